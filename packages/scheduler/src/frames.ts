import { SchedulerMessage } from '@shoal/proto'

const frames = new WeakMap<SchedulerMessage, Uint8Array>()

/**
 * The wire frame of a message to an agent, encoded once however many agents it goes to: a round
 * sends the same PieceTable message to every downloader of a task whose table grew (thousands
 * of them in a rollout). The frame is kept as long as the message object lives; a message must
 * not be changed once it was sent (the service makes a new one for every change).
 */
export function encodeSchedulerMessage (message: SchedulerMessage): Uint8Array {
  let frame = frames.get(message)
  if (frame == null) {
    frame = SchedulerMessage.encode(message)
    frames.set(message, frame)
  }
  return frame
}
