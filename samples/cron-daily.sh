#!/bin/sh
# Run the job file samples/jobs/daily.yaml once a day and append the JSON result to a log (one
# line per run). The prompt, tools and limits are in the job; an argument picks the city.
#
#   crontab -e
#   # m h dom mon dow  command
#   15 7 * * *  OPENROUTER_API_KEY=sk-or-... LLMRUN_BIN=$HOME/llmrun/.venv/bin/llmrun $HOME/llmrun/samples/cron-daily.sh
#
# cron's PATH is /usr/bin:/bin: LLMRUN_BIN names llmrun in full (the venv's, or `pipx
# environment` says where pipx put it). With one key variable set (OPENROUTER_API_KEY here)
# llmrun uses that provider and its default model; LLMRUN_PROVIDER, LLMRUN_MODEL or
# ~/.config/llmrun/config.yaml choose others (cron sets HOME, so the file is found as usual).
# Nothing is drawn for a terminal here: no spinner, no colour. With -q, stderr carries only
# errors, so cron mails you only when something went wrong; the exit status says what
# (3 configuration, 4 HTTP error, 5 connection or stream, 6 too many steps).
set -u

here=$(cd "$(dirname "$0")" && pwd)
log=${LLMRUN_LOG:-$HOME/llmrun-daily.jsonl}
job=${LLMRUN_DAILY_JOB:-$here/jobs/daily.yaml}
llmrun=${LLMRUN_BIN:-llmrun}          # cron's PATH is short: name llmrun in full if needed

# A log that cannot be written is a failure cron must report, not a silent success.
if ! { true >>"$log"; } 2>/dev/null; then
    echo "cron-daily: cannot write the log $log (set LLMRUN_LOG to a writable file)" >&2
    exit 3
fi

# --json prints exactly one object on stdout, even when the run fails (it then has "error").
# --no-stdin: cron's standard input is not a terminal, and it is not part of the question.
# LLMRUN_DAILY_TOOLS, when set, replaces the job's tools (the command line wins over the file).
result=$($llmrun run "$job" --json --no-stdin -q ${LLMRUN_DAILY_TOOLS:+-t "$LLMRUN_DAILY_TOOLS"} \
         ${1:+--var "city=$1"})
status=$?
[ -n "$result" ] || result=null       # a bad command line prints no object
if ! printf '{"date": "%s", "exit": %d, "result": %s}\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$status" "$result" >>"$log"; then
    echo "cron-daily: cannot append to the log $log" >&2
    [ "$status" -ne 0 ] || status=3
fi
exit "$status"
