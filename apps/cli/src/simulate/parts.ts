import { parsePartitionSpec, partition } from '@fedlink/core';
import { partitionByGroup } from '@fedlink/ml';
import type { DatasetSplit } from '@fedlink/ml/node';

/**
 * Each client's example indices: the seeded partition of `spec`, or `natural` (text): one client
 * per speaker or file, largest first. The simulator and every worker compute the same.
 */
export function partsOf(data: DatasetSplit, spec: string, clients: number, seed: number): Int32Array[] {
  if (spec === 'natural') {
    if (!data.text) throw new RangeError(`--partition natural: ${data.name} has no speakers or files to split by (text data only)`);
    return partitionByGroup(data.text.groups, clients, data.text.groupNames);
  }
  return partition(data.train.labels, clients, parsePartitionSpec(spec), seed);
}
