# Reads the output of `cargo bench --bench lifecycle` and prints, for 1 and
# 2 threads, JobQueue's time a job against the engine named `ref` (Floor,
# ParkingLot...) of the same run. Variables: jobs (drained per iteration,
# benches/lifecycle.rs), ref.
/^lifecycle\// { name = $1 }
/time:/ && name != "" {
    # [low median high]: the median and its unit follow "time:".
    for (i = 1; i <= NF; i++) if ($i == "time:") break
    value = $(i + 3); unit = $(i + 4)
    ns = value * (unit == "ms" ? 1e6 : unit == "µs" ? 1e3 : unit == "s" ? 1e9 : 1)
    split(name, p, "/"); t[p[2] "/" p[3]] = ns; name = ""
}
END {
    for (n = 1; n <= 2; n++) {
        q = t["JobQueue/" n]; r = t[ref "/" n]
        if (q && r) printf "  %d thread(s): JobQueue %.1f ns a job (%.2f M jobs/s), %s %.1f ns a job, JobQueue time / %s time %.2fx (%s time / JobQueue time %.2fx)\n", n, q / jobs, jobs / q * 1e3, ref, r / jobs, ref, q / r, ref, r / q
    }
}
