import type { Queue } from 'bullmq';

/**
 * Moves a delayed job to the front of its wait now. A job that is no longer delayed (a worker took
 * it when its delay ran out, or it already ran) is left as it is; false then.
 */
export async function promoteIfDelayed(queue: Queue, jobId: string): Promise<boolean> {
  const job = await queue.getJob(jobId);
  if (!job) return false;
  try {
    await job.promote();
    return true;
  } catch (error) {
    if (error instanceof Error && /not in the delayed state/.test(error.message)) return false;
    throw error;
  }
}
