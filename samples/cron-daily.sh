#!/bin/sh
# Run the job file samples/jobs/daily.yaml once a day (its prompt, tools and limits; an
# argument picks the city); the run log keeps the run (see README, "Run log").
#
#   crontab -e
#   # m h dom mon dow  command
#   15 7 * * *  OPENROUTER_API_KEY=sk-or-... LLMRUN_BIN=$HOME/llmrun/.venv/bin/llmrun $HOME/llmrun/samples/cron-daily.sh
#
# The morning after, from any shell:
#   llmrun log --since 1d              # what ran, how it ended, what it cost
#   llmrun log show last               # the prompt, each step, tool calls with arguments and results
#   llmrun log --failed --since 7d     # the runs that went wrong (killed ones too)
#   llmrun log cost --since 30d --by day
#
# cron's PATH is /usr/bin:/bin: LLMRUN_BIN names llmrun in full (the venv's, or `pipx
# environment` says where pipx put it). With one key variable set (OPENROUTER_API_KEY here)
# llmrun uses that provider and its default model; LLMRUN_PROVIDER, LLMRUN_MODEL or
# ~/.config/llmrun/config.yaml choose others (cron sets HOME, so the file and the run log
# ~/.local/state/llmrun/runs.db are found as usual; LLMRUN_LOG_DB names another log).
# Nothing is drawn for a terminal here: no spinner, no colour. With -q, stderr carries only
# errors, so cron mails you only when something went wrong; the exit status says what
# (3 configuration, 4 HTTP error, 5 connection or stream, 6 a limit stopped it).
set -u

here=$(cd "$(dirname "$0")" && pwd)
job=${LLMRUN_DAILY_JOB:-$here/jobs/daily.yaml}
llmrun=${LLMRUN_BIN:-llmrun}          # cron's PATH is short: name llmrun in full if needed

# The log is this job's record: one that cannot be written is a failure cron must report
# (llmrun itself only warns, and -q hides warnings).
db=$($llmrun log path 2>/dev/null) || db=
if [ -z "$db" ] || ! (umask 077 && mkdir -p "$(dirname "$db")" && : >>"$db") 2>/dev/null; then
    echo "cron-daily: cannot write the run log ${db:-(llmrun log path failed)} (set LLMRUN_LOG_DB to a writable file)" >&2
    exit 3
fi

# --no-stdin: cron's standard input is not a terminal, and it is not part of the question.
# The answer is in the log (llmrun log show last); stdout stays quiet so cron mails only errors.
# LLMRUN_DAILY_TOOLS, when set, replaces the job's tools (the command line wins over the file).
$llmrun run "$job" --no-stdin -q ${LLMRUN_DAILY_TOOLS:+-t "$LLMRUN_DAILY_TOOLS"} \
    ${1:+--var "city=$1"} >/dev/null
