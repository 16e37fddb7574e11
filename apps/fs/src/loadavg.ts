// One sampler for every container's load average, at the kernel's LOAD_FREQ (5 s): a single timer that runs only
// while some container is registered (no wake-ups when none is) and never keeps the process alive. Each tick
// looks at every container's threads once (@sysbox/procfs sampleLoad) and folds the count into its averages.
import { LOAD_FREQ_MS, sampleLoad, type ContainerView, type HostEnv } from '@sysbox/procfs';

export interface SamplerTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(timer: unknown): void;
}

const nodeTimers: SamplerTimers = {
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (t) => clearInterval(t as NodeJS.Timeout),
};

export interface LoadSamplerOptions {
  /** default LOAD_FREQ_MS (5 s) */
  intervalMs?: number;
  /** a container whose sampling failed (its cgroup gone, ...); it stays registered */
  onError?: (view: ContainerView, err: unknown) => void;
  timers?: SamplerTimers;
}

export class LoadSampler {
  private readonly views = new Set<ContainerView>();
  private timer: unknown;
  private readonly timers: SamplerTimers;

  constructor(
    private readonly env: HostEnv,
    private readonly o: LoadSamplerOptions = {},
  ) {
    this.timers = o.timers ?? nodeTimers;
  }

  /** Starts sampling a container: its threads are counted now (for running/total), folded from the next tick. */
  add(view: ContainerView): void {
    this.views.add(view);
    this.sample(view, false);
    this.timer ??= this.timers.setInterval(() => this.tick(), this.o.intervalMs ?? LOAD_FREQ_MS);
  }

  delete(view: ContainerView): void {
    this.views.delete(view);
    if (this.views.size === 0) this.stop();
  }

  /** One LOAD_FREQ step for every container. */
  tick(): void {
    for (const v of this.views) this.sample(v, true);
  }

  /** whether the timer runs */
  get running(): boolean {
    return this.timer !== undefined;
  }

  get size(): number {
    return this.views.size;
  }

  close(): void {
    this.views.clear();
    this.stop();
  }

  private sample(v: ContainerView, fold: boolean): void {
    try {
      sampleLoad(this.env, v, fold);
    } catch (e) {
      this.o.onError?.(v, e);
    }
  }

  private stop(): void {
    if (this.timer === undefined) return;
    this.timers.clearInterval(this.timer);
    this.timer = undefined;
  }
}
