/**
 * greenlet's producer and consumer ("making and eating buns") as two coroutines: the producer
 * makes a bun and hands it over, the consumer eats it and asks for the next, and each waits
 * while the other runs, as greenlet's `switch` hands control and a value across. The hand-over
 * is a rendezvous channel: `send` resolves only once the consumer has eaten the bun and asks
 * for the next one. It prints what the Python original prints, in the same order:
 *   [producer] is making bun 1 / ---> starting to eat buns... / eating bun 1 /
 *   [producer] is making bun 2 / eating bun 2 / ... / eating bun 5
 * Where the original leaves the consumer suspended for ever, the producer closes the channel
 * when it is done, so both tasks end and `joinAll` returns.
 * Run: `node --import tsx examples/producer-consumer.ts`.
 */
import { IOLoop, joinAll } from 'fdpoll'

/** An unbuffered channel between two coroutines: a value passes only when both sides meet. */
class Channel<T> {
  #value: T | undefined
  #full = false
  #closed = false
  /** Wakes the side waiting for the other: the receiver for a value, the sender for its taking. */
  #wake: (() => void) | undefined

  /** Hands `value` over; resolves once the receiver has taken it and asks for the next one. */
  async send(value: T): Promise<void> {
    this.#value = value
    this.#full = true
    this.#switch()
    while (this.#full) await new Promise<void>((resolve) => (this.#wake = resolve))
  }

  /** No more values: the receiver's loop ends. */
  close(): void {
    this.#closed = true
    this.#switch()
  }

  /** The values sent, one at a time, until `close()`. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    while (true) {
      if (this.#full) {
        const value = this.#value as T
        this.#full = false
        yield value // the consumer's loop body runs here; the next turn lets the sender go on
        this.#switch()
      } else if (this.#closed) return
      else await new Promise<void>((resolve) => (this.#wake = resolve))
    }
  }

  #switch(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }
}

async function consumer(buns: Channel<number>): Promise<void> {
  console.log('---> starting to eat buns...')
  for await (const n of buns) console.log(`eating bun ${n}`)
}

async function producer(buns: Channel<number>): Promise<void> {
  let n = 0
  while (n < 5) {
    n += 1
    console.log(`[producer] is making bun ${n}`)
    await buns.send(n)
  }
  buns.close()
}

const loop = new IOLoop()
const buns = new Channel<number>()
// The producer starts first, as gr_producer.switch() starts it: the consumer begins with bun 1.
void joinAll([loop.spawn(producer, buns), loop.spawn(consumer, buns)]).then(() => loop.close())
