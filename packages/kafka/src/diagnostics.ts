import diagnosticsChannel from 'node:diagnostics_channel';

/**
 * Lifecycle events on `node:diagnostics_channel`, for tracing and metrics tools.
 * Subscribe with `diagnostics_channel.subscribe('rxkafka:consumer.paused', listener)`.
 */
const channels = new Map<string, diagnosticsChannel.Channel>();

export function publish(event: string, message: object): void {
  let channel = channels.get(event);
  if (channel === undefined) {
    channel = diagnosticsChannel.channel(`rxkafka:${event}`);
    channels.set(event, channel);
  }
  if (channel.hasSubscribers) channel.publish(message);
}
