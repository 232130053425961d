import { Sub } from '@tensorflow/tfjs';
import { BinaryOp } from '../wasm-kernels.js';
import { binaryKernel } from './binary-util.js';

/** a - b. */
export const subConfig = binaryKernel(Sub, BinaryOp.sub);
