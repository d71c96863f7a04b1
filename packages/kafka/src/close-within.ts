import { publish } from './diagnostics.js';
import { CloseTimeoutError } from './errors.js';
import type { Logger } from './logger.js';

/**
 * Closes a client within `boundMs`. A close that never ends would hold the service (and the source's
 * `closed`) up in silence: past the bound it is given up on, loudly, with a `CloseTimeoutError`.
 */
export async function closeWithin(
  client: { disconnect(): Promise<void> },
  kind: 'consumer' | 'producer',
  boundMs: number,
  logger: Logger,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const overdue = new Promise<true>((resolve) => (timer = setTimeout(resolve, boundMs, true)));
  const gaveUp = await Promise.race([client.disconnect(), overdue]);
  clearTimeout(timer);
  if (gaveUp !== true) return;
  const error = new CloseTimeoutError(kind, boundMs);
  publish(kind === 'consumer' ? 'consumer.error' : 'producer.error', { error });
  logger.error({ err: error }, error.message);
}
