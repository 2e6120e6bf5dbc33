import Foundation

/// oneDNN (the bf16 products) runs on libgomp's OpenMP threads, which by default spin for a while
/// after each product waiting for the next; between products the engine's own Dispatch threads
/// need those very cores (MeZO's perturbed weight panels, norms, attention). On 2 cores that
/// spinning made a MeZO step on bf16 weights 2.3× slower (Gemma-3-270M: 0.18 vs 0.42 steps/s,
/// docs/weights-16bit.md). libgomp reads OMP_WAIT_POLICY once, when it is loaded, before `main`:
/// so the process restarts itself once with it set to passive (same pid and arguments). OpenBLAS
/// here is the pthread build and does not read it. A value the user set is kept.
enum OpenMPWaitPolicy {
    static func ensurePassive() {
        guard getenv("OMP_WAIT_POLICY") == nil else { return }
        setenv("OMP_WAIT_POLICY", "passive", 1)
        // The binary's real path, not /proc/self/exe: the process keeps its name ("zofinetune"),
        // which `ps`, `pkill` and mpirun's process tree show.
        var path = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &path, Int(PATH_MAX))
        guard length > 0 else { return }
        execv(path, CommandLine.unsafeArgv)
        // exec failed (no /proc): carry on with spinning threads rather than not at all.
    }
}
