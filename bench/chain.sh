#!/usr/bin/env bash
# Prints a GraphQL query: a chain of N trivial execs on busybox (echo i > /f_i),
# with TAG making the steps unique (a fresh TAG = a cold chain).
n=${1:-20}; tag=${2:-x}
q='{ container { from(address: "busybox:1.36") { '
for i in $(seq 1 "$n"); do q+="withExec(args: [\"sh\", \"-c\", \"echo $i > /f_${i}_$tag\"]) { "; done
q+='sync '
for i in $(seq 1 $((n + 3))); do q+='} '; done
echo "$q"
