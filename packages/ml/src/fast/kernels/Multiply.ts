import { Multiply } from '@tensorflow/tfjs';
import { BinaryOp } from '../wasm-kernels.js';
import { binaryKernel } from './binary-util.js';

/** a * b (relu gradients, learning-rate scaling). */
export const multiplyConfig = binaryKernel(Multiply, BinaryOp.mul);
