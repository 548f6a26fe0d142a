#!/bin/sh
# `onyx verify --bisect` must name a deliberately broken node. A test build
# (-DONYX_TEST_HOOKS) perturbs the output of the node named by ONYX_TEST_FAULT;
# the bisect, comparing every intermediate value with ONNX Runtime, must report
# exactly that node, and report no node when nothing is perturbed.
set -u
ONYX=${1:-build-hooks/onyx}
MODEL=${MODEL:-models/zoo/mobilenet_v2}
pass=0 fail=0
check() { if [ "$1" = 0 ]; then pass=$((pass + 1)); echo "ok   $2"; else fail=$((fail + 1)); echo "FAIL $2"; fi; }

clean=$("$ONYX" verify "$MODEL/model.onnx" "$MODEL" --bisect 2>/dev/null)
echo "$clean" | grep -q "no node differs"; check $? "clean model: no offending node"

# a Conv in the middle of the network, chosen from the file itself
node=$(/usr/bin/python3 -c "
import onnx, sys
m = onnx.load('$MODEL/model.onnx', load_external_data=False)
convs = [n for n in m.graph.node if n.op_type == 'Conv']
n = convs[len(convs) // 2]
print(n.name or n.output[0])")
out=$(ONYX_TEST_FAULT="$node" "$ONYX" verify "$MODEL/model.onnx" "$MODEL" --bisect 2>/dev/null)
echo "$out" | grep -F -q "first offending node: '$node'" || echo "$out" | grep -F -q "producing '$node'"
check $? "fault injected in $node is the first offending node"
echo "$out" | grep -q "error growth along the path"; check $? "the report shows the error growth"
echo "bisect: $pass passed, $fail failed"
[ $fail = 0 ]
