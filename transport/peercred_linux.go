package transport

import (
	"net"
	"os"
	"syscall"
)

// checkPeer checks with SO_PEERCRED that the process at the other end of a
// Unix socket runs as our uid.
func checkPeer(nc net.Conn) error {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return authError("peer credentials: %v", err)
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		credErr = err
	}
	if credErr != nil {
		return authError("reading the peer's credentials: %v", credErr)
	}
	if int(cred.Uid) != os.Getuid() {
		return authError("the peer (pid %d) runs as uid %d, not as our uid %d", cred.Pid, cred.Uid, os.Getuid())
	}
	return nil
}
