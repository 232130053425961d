import { Add } from '@tensorflow/tfjs';
import { BinaryOp } from '../wasm-kernels.js';
import { binaryKernel } from './binary-util.js';

/** a + b (bias adds, gradient sums, the SGD update). */
export const addConfig = binaryKernel(Add, BinaryOp.add);
