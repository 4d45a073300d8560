export const OPERATION_STATUSES = [
  'queued',
  'running',
  'completed',
  'completed_with_rejections',
  'rejected',
  'failed',
  'cancelled',
] as const;
export type OperationStatus = (typeof OPERATION_STATUSES)[number];

export const FINAL_STATUSES: ReadonlySet<OperationStatus> = new Set([
  'completed',
  'completed_with_rejections',
  'rejected',
  'failed',
  'cancelled',
]);

export function isFinal(status: string): boolean {
  return FINAL_STATUSES.has(status as OperationStatus);
}

export interface OperationProgress {
  chunksTotal: number | null;
  chunksDone: number;
  chunksFailed: number;
  rejected: number;
}

/**
 * The status an operation has once its chunks have been counted: still running while any
 * chunk is outstanding; failed if a chunk gave up; otherwise completed, with or without rejections.
 */
export function statusAfterChunk(progress: OperationProgress): OperationStatus {
  const { chunksTotal, chunksDone, chunksFailed, rejected } = progress;
  if (chunksTotal === null || chunksDone + chunksFailed < chunksTotal) return 'running';
  if (chunksFailed > 0) return 'failed';
  return rejected > 0 ? 'completed_with_rejections' : 'completed';
}
