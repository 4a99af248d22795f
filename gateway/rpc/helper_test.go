package rpc_test

const helperEnv = "VNRPC_GWRPC_HELPER"

func helperMain() int { return 2 }
