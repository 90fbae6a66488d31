#!/bin/bash
# rig: one-host two-hosts
# timeout: 120
#
# /dev/kvm works in every host: a guest runs, and KVM's dirty log names
# exactly the pages it wrote, harvest after harvest.
. "$RIG_REPO/tests/lib.sh"

on_each '[ -c /dev/kvm ] || { echo "no /dev/kvm: kvm_amd did not load"; exit 1; }'
on_each kvm-dirty-log
