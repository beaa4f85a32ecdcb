import CKernels

/// The CPU's spin-wait hint (x86 PAUSE, Arm YIELD), for loops that wait on an atomic flag: an
/// SMT sibling doing the awaited work keeps the pipeline. ~30 ns on Zen 5.
public func spinPause() { ck_spin_pause() }
