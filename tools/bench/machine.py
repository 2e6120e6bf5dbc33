"""The machine a benchmark or check ran on, for the line that states its numbers (the brief asks
for the CPU beside every absolute figure). Imported by tools/bench and tools/check scripts."""


def cpu_name():
    """The kernel's "model name" of the first CPU (/proc/cpuinfo), or "unknown CPU"."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "unknown CPU")
    except OSError:
        return "unknown CPU"
