// Package natslink is a net.Conn over two NATS subjects.
package natslink
