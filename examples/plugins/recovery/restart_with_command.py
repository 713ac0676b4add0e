#!/usr/bin/env python3
"""A recovery plugin (protocol version 1): runs the command its `config` gives,
with {node_id}, {host} and {port} filled in, and answers whether it worked.

Configure it under plugins.recovery_plugins.restart_with_command.config:
    command: ["sudo", "systemctl", "restart", "kafka"]      # or anything else
    timeout_seconds: 120
and list `restart_with_command` in recovery.actions. Its manifest is the
sidecar restart_with_command.yaml.
"""
import json
import subprocess
import sys


def main():
    request = json.load(sys.stdin)
    node = request["node"]
    config = request.get("config") or {}
    command = config.get("command")
    if not isinstance(command, list) or not command:
        answer(False, "config.command must be a non-empty list of strings")
        return 1
    argv = [str(a).format(node_id=node["id"], host=node["host"], port=node["port"]) for a in command]
    if request.get("dry_run"):
        answer(True, "dry run: would run " + " ".join(argv))
        return 0
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=config.get("timeout_seconds", 120))
    except (OSError, subprocess.TimeoutExpired) as e:
        answer(False, "cannot run %s: %s" % (argv[0], e))
        return 1
    details = {"exit_code": done.returncode, "stdout": done.stdout[-2000:], "stderr": done.stderr[-2000:]}
    if done.returncode == 0:
        answer(True, "ran " + " ".join(argv), details)
        return 0
    answer(False, "%s exited %d" % (argv[0], done.returncode), details)
    return 1


def answer(success, message, details=None):
    json.dump({"success": success, "message": message, "details": details or {}}, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
