import { RealDiv } from '@tensorflow/tfjs';
import { BinaryOp } from '../wasm-kernels.js';
import { binaryKernel } from './binary-util.js';

/** a / b on float32. */
export const realDivConfig = binaryKernel(RealDiv, BinaryOp.div);
