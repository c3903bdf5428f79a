/**
 * `fn`, remembering its last answer: for checks that a process asks about
 * the same value again and again (the Host header a server sees, the address
 * of a keep-alive client, the host a client calls). One entry, so it holds
 * no more than one key and never grows.
 */
export function rememberLast<T>(fn: (key: string) => T): (key: string) => T {
  let lastKey: string | undefined;
  let lastValue!: T;
  return (key) => {
    if (key !== lastKey) {
      lastValue = fn(key);
      lastKey = key;
    }
    return lastValue;
  };
}
