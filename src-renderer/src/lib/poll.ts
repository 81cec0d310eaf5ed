/**
 * Asking the engine again and again while a view is shown: every `intervalMs`, never two
 * asks at once (the next waits for the one before), paused while the page is hidden and
 * asked at once when it shows again. The Team view and the Audit view follow the engine
 * this way; the returned function stops it.
 */
export function pollWhileVisible(refresh: () => Promise<void>, intervalMs: number): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;
  // One timer at most: a chain that ends while another is waiting replaces its wait.
  const schedule = (): void => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (stopped || document.visibilityState === 'hidden') return;
    timer = setTimeout(() => {
      timer = null;
      // The next ask waits for this one: a slow engine is never asked twice at once.
      void refresh().finally(schedule);
    }, intervalMs);
  };
  const onVisibility = (): void => {
    if (document.visibilityState === 'hidden') schedule();
    else void refresh().finally(schedule);
  };
  document.addEventListener('visibilitychange', onVisibility);
  void refresh().finally(schedule);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisibility);
  };
}
