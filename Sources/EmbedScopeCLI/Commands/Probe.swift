import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension Root {
    struct Probe: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "probe", abstract: "Train a linear probe (multinomial logistic regression, L2) on a space; store it as the prototype set `probe`.",
            discussion: reflow("""
            Same objective as scikit-learn's LogisticRegression(C, lbfgs, fit_intercept=True): \
            Σ cross-entropy + ½/C·‖W‖², the bias not penalized, on the vectors x = norm · unit row. \
            Trained natively (sgemm, our L-BFGS). When the index records splits (a root/{train,val,test}/… \
            folder, or a manifest's split column) it trains on train and validates on val (or test). \
            Otherwise the split is stratified and seeded: within each class \
            round(val · n) seeded rows (at least 1 when the class has 2 or more) are held out. \
            The split is recorded with the stored head, and `evaluate` leaves its training rows out. \
            Afterwards `embedscope rank INDEX --set probe --prototype CLASS` and \
            `embedscope evaluate INDEX --set probe` use the stored head.
            """))

        @Argument(help: "Index directory.") var index: String
        @Option(help: "Space (default: embedding if the index has it, else its first space).") var space: String?
        @Option(parsing: .unconditional, help: "Validation fraction per class.") var val = 0.2
        @Option(parsing: .unconditional, help: "Seed of the split.") var seed: UInt64 = 0
        @Option(name: .customLong("C"), parsing: .unconditional, help: "Inverse L2 strength (scikit-learn's C).") var c = 1.0
        @Option(parsing: .unconditional, help: "L-BFGS iteration limit.") var maxIter = 1000
        @Option(parsing: .unconditional, help: "Stop when the largest gradient entry of the mean objective is at most this.") var tol = 1e-5
        @Option(help: "Prototype set to store the head as.") var set = "probe"
        @Flag(help: "Do not store the head.") var noStore = false
        @OptionGroup var output: OutputOptions
        @OptionGroup var lockOptions: LockOptions

        func validate() throws {
            guard val > 0 && val < 1 else { throw ValidationError("--val must be between 0 and 1 (exclusive)") }
            guard c > 0 && c.isFinite && (1 / c).isFinite else { throw ValidationError("--C must be a positive number, at least 1e-308 (the penalty is 1/C)") }
            guard maxIter >= 1 else { throw ValidationError("--max-iter must be at least 1") }
            guard tol >= 0 else { throw ValidationError("--tol must be 0 or more") }
        }

        func run() throws {
            lockOptions.apply()
            try runCommand {
                let idx = try Index.open(resolveURL(index))
                var req = ProbeRequest()
                req.space = space; req.validationFraction = val; req.seed = seed
                req.options.c = c; req.options.maxIterations = maxIter; req.options.tolerance = tol
                req.storeAs = noStore ? nil : set
                let terminal = isatty(STDERR_FILENO) == 1
                let r = try idx.probe(req) { step in
                    if terminal && (step.iteration % 10 == 0 || step.iteration < 10) {
                        note(String(format: "iteration %4d  loss %.6f  max|gradient| %.2e", step.iteration, step.loss, step.gradientMax))
                    }
                }
                try recordMetrics { try idx.recordProbe(r) }
                if output.json { try printJSON(r) } else { print(Self.text(r)) }
            }
        }

        static func text(_ r: ProbeReport) -> String {
            var lines = ["linear probe on space \(r.space): \(r.trainRows) training rows, \(r.validationRows) validation rows (\(r.splitPlan.summary))",
                         String(format: "C = %g; %d L-BFGS iterations, %@; loss %.6f, max|gradient| %.2e", r.c, r.iterations,
                                r.converged ? "converged" : "stopped: \(r.stopReason)", r.loss, r.gradientMax),
                         String(format: "train accuracy %.4f; validation accuracy %.4f", r.trainAccuracy, r.validation.accuracy), ""]
            lines.append("validation:")
            lines += classificationText(r.validation)
            if let s = r.storedAs { lines.append(""); lines.append("stored as prototype set '\(s)' (try: embedscope evaluate INDEX --set \(s))") }
            return lines.joined(separator: "\n")
        }
    }
}
