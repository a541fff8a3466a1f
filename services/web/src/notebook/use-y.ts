import { useEffect, useState } from 'react';
/** What useYValue needs of a Y type (structural: every Y type's handlers accept a no-arg callback). */
interface Observable {
  observe(f: () => void): void;
  unobserve(f: () => void): void;
  observeDeep(f: () => void): void;
  unobserveDeep(f: () => void): void;
}

/** Re-renders when a Y type changes (shallow), returning `read()` of it. */
export function useYValue<T>(type: Observable | null, read: () => T, deep = false): T {
  const [value, setValue] = useState(read);
  useEffect(() => {
    if (!type) return;
    const update = () => setValue(read());
    update();
    if (deep) type.observeDeep(update);
    else type.observe(update);
    return () => (deep ? type.unobserveDeep(update) : type.unobserve(update));
    // `read` is derived from `type`; re-subscribing on every render would be wasteful.
  }, [type, deep]);
  return value;
}
