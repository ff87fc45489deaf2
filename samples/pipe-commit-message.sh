#!/bin/sh
# Write a commit message for the staged changes (or, with nothing staged, the unstaged ones):
#
#   samples/pipe-commit-message.sh                      # print a message
#   git commit -e -m "$(samples/pipe-commit-message.sh)"   # commit it, after editing
#   samples/pipe-commit-message.sh "mention the issue number #12"
#
# The diff goes in on standard input and llmrun appends it to the question after a blank
# line. stdout is a pipe here, so it carries exactly the answer plus a newline, ready for git;
# the usage line and any error go to stderr.
set -eu

diff=$(git diff --cached)
[ -n "$diff" ] || diff=$(git diff)
if [ -z "$diff" ]; then
    echo "pipe-commit-message: no changes to describe (edit or git add something first)" >&2
    exit 1
fi

printf '%s\n' "$diff" | head -c 200000 | ${LLMRUN_BIN:-llmrun} ask -q \
    -s "You write git commit messages: a summary line of at most 60 characters in the
imperative mood, a blank line, then a short body saying what changed and why. Plain text:
no markdown, no code fences, no quotes around the message." \
    "Write a commit message for this diff.${1:+ $1}"
