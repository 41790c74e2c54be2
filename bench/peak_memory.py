"""Run one `distilser` command in this process and report its peak resident memory.

    .venv/bin/python bench/peak_memory.py PEAK_FILE analyze NOTE.flac --model runs/demo/onnx

Writes the peak (VmHWM, in kB) to PEAK_FILE and prints it in MB on stderr; exits with the command's status.
The process measures itself because a parent's figure for its child (wait4, getrusage) also counts the parent's own
memory at fork time, which would hide what the command needs.
"""
import sys
from distilser.cli import main

peak_file, args = sys.argv[1], sys.argv[2:]
status = main(args)
kb = int(next(line for line in open('/proc/self/status') if line.startswith('VmHWM:')).split()[1])
open(peak_file, 'w').write(str(kb))
print(f'peak resident memory of distilser {" ".join(args)}: {kb / 1024:.0f} MB', file=sys.stderr)
sys.exit(status)
