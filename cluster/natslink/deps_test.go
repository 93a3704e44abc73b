package natslink_test

import (
	_ "github.com/grove-rt/grove/transport"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go"
	_ "github.com/stretchr/testify/require"
	_ "go.uber.org/goleak"
)
