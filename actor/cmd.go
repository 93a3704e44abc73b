package actor

import "os/exec"

// WithCmd calls hook on the actor's [*exec.Cmd] just before its process
// starts, for what the other options do not cover: SysProcAttr's fields
// (credentials, a process group), more environment, more files for the
// child. It runs once per spawn, on the actor's task in its nursery while
// Spawn waits for it (on the caller's goroutine for [StartProcess]), and
// must not block: the spawn waits for it, and neither ctx nor the start
// timeout bounds it.
//
// When it runs, cmd is complete: Path and Args are the executable and
// [WithArgs]'s arguments; Env holds grove's variables (GROVE_ACTOR and the
// others) after [WithEnv]'s or [WithEnvOnly]'s; Stdout and Stderr are the
// pipes of the output forwarding; ExtraFiles holds the actor's link (fd 3
// in the child) and, where there is one, its progress page (fd 4). The
// hook may change Dir, append to Env (a later entry wins over an earlier
// one of the same key, as in os/exec, so it may not override grove's
// variables), set the fields of SysProcAttr (not replace it, which holds
// grove's Pdeathsig on Linux, nor clear Pdeathsig), and append to
// ExtraFiles: entry i of ExtraFiles becomes fd 3+i in the child, so a file
// appended when ExtraFiles has k entries is fd 3+k there (pass that number
// to the child, in Env say). The files it appends stay the caller's: close
// them after Spawn returns, as with os/exec.
//
// It must not change Path, Args, Stdin, Stdout or Stderr, replace or
// remove grove's ExtraFiles, drop or override grove's variables in Env,
// replace SysProcAttr or change its Pdeathsig, nor start cmd: the spawn
// would break (no link, an actor that runs main as a program of its own,
// one that outlives this process), so a spawn whose hook did any of these
// fails with an error that names what changed and the option to use
// instead, and starts nothing (a process the hook started is killed and
// reaped). A hook that panics fails the spawn likewise. On such a
// refusal, the files the hook put on cmd's child side, which no start
// will close, are closed: Stdin (the read end of cmd.StdinPipe, or a file
// it set), a file that replaced Stdout or Stderr, and the files it
// appended to ExtraFiles (this process's fd 0 to 2 excepted). The ends
// the hook kept, such as the writer StdinPipe returned, are its own to
// close.
//
// The fork does not happen on the hook's goroutine (on Linux one thread
// of this process forks every actor, see [Spawn]), so the state of the
// hook's thread (runtime.LockOSThread with unshare, setns or prctl) does
// not reach the child: ask for it through SysProcAttr (Cloneflags,
// Unshareflags). grove signals the actor's process by its pid alone, so a
// process group or session of its own (Setpgid, Setsid) keeps the cancel
// ladder and [Ref.Kill] working; it only keeps the terminal's signals
// (Ctrl-C) from the actor, and the kill does not reach the processes the
// actor starts, as without it.
//
// It is ignored where the actor has no process of its own here: on the
// goroutine backend, and on another host ([OnHost]: the Placer starts the
// process there). A nil hook is none.
func WithCmd(hook func(cmd *exec.Cmd)) Option { return func(c *config) { c.cmdHook = hook } }
