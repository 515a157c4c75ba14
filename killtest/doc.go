// Package killtest kills `provision apply --root` with SIGKILL at random
// instants and after the K-th JSON event, over a playbook that writes with
// every module that writes under --root, and checks that nothing is lost:
// no torn file, subid files that parse without overlap, the handler of
// every change that happened run by the next run, no temp or shadow lock
// file left, and a converged host. It needs root (for the chown of the
// file module); it has no non-test code.
//
//	go test ./killtest                          # 40 trials
//	PROVISION_KILL_TRIALS=400 go test ./killtest -v -timeout 30m
package killtest
