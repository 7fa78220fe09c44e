package phase

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Sandbox runs every child of a phase (OpenTofu, its providers, whatever
// they start, the hooks) in a bubblewrap sandbox: a fresh mount namespace
// that holds the run directory (read-write), the binary, the provider
// mirror and the hooks (read-only), the system's libraries and a few files
// of /etc (read-only), a private /tmp, a fresh /proc of the run's own PID
// namespace and a minimal /dev. Nothing else of the host is there: not the
// agent's or server's data, not its home, not other runs' directories. The
// network is shared with the agent.
//
// When the agent runs as root, the sandbox's processes run as an
// unprivileged user (UID, GID): bubblewrap, as root, mounts the sandbox
// and drops every capability except those setpriv needs to switch to that
// user, which drops the rest. Otherwise bubblewrap uses an unprivileged user namespace and
// the run keeps the agent's uid (it still sees none of the agent's files).
type Sandbox struct {
	bwrap    string
	setpriv  string // "" unless the agent is root
	uid, gid int    // the run's user when the agent is root
	tty      bool   // the agent has a controlling terminal
}

// SandboxConfig sets up a Sandbox. Zero values take the defaults.
type SandboxConfig struct {
	Bwrap string // bubblewrap; default: bwrap on PATH, then /usr/bin/bwrap
	// UID and GID run the phase's processes when the agent is root;
	// default 65534 (nobody). Root itself is refused.
	UID, GID int
}

// NobodyID is the default uid and gid of a run under a root agent.
const NobodyID = 65534

// NewSandbox finds bubblewrap (and setpriv when the agent is root). It does
// not try it: see Probe.
func NewSandbox(c SandboxConfig) (*Sandbox, error) {
	s := &Sandbox{uid: -1, gid: -1, tty: hasTTY()}
	var err error
	if s.bwrap, err = lookTool(c.Bwrap, "bwrap"); err != nil {
		return nil, fmt.Errorf("bubblewrap (Debian package bubblewrap) is not installed: %w", err)
	}
	if os.Geteuid() != 0 {
		return s, nil
	}
	if s.setpriv, err = lookTool("", "setpriv"); err != nil {
		return nil, fmt.Errorf("setpriv (Debian package util-linux) is needed to run phases as an unprivileged user: %w", err)
	}
	s.uid, s.gid = c.UID, c.GID
	if s.uid == 0 {
		s.uid = NobodyID
	}
	if s.gid == 0 {
		s.gid = NobodyID
	}
	if s.uid < 0 || s.gid < 0 {
		return nil, fmt.Errorf("the run's uid and gid must be positive, not %d:%d", s.uid, s.gid)
	}
	return s, nil
}

// hasTTY reports whether this process has a controlling terminal.
func hasTTY() bool {
	f, err := os.Open("/dev/tty")
	if err != nil {
		return false
	}
	f.Close()
	return true
}

func lookTool(given, name string) (string, error) {
	if given != "" {
		if !filepath.IsAbs(given) {
			return "", fmt.Errorf("%s must be an absolute path", given)
		}
		return given, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return filepath.Abs(p)
	}
	p := "/usr/bin/" + name
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

// RunUser is the uid the sandbox's processes run as, or -1 when they keep
// the agent's.
func (s *Sandbox) RunUser() int { return s.uid }

// Probe runs `binary version` in the sandbox, in a throwaway run directory,
// and checks it ran there and as the run's user: an agent that cannot
// isolate its runs must say so at start, not at its first run.
func (s *Sandbox) Probe(ctx context.Context, binary string) error {
	dir, err := os.MkdirTemp("", "runcred-probe-")
	if err != nil {
		return err
	}
	defer RemoveDir(dir)
	if err := s.own(dir); err != nil {
		return err
	}
	var out bytes.Buffer
	c := command{
		path: "/bin/sh", args: []string{"-c", `"$0" version && echo "uid=$(id -u) pid=$$"`, binary}, dir: dir,
		env: []string{"HOME=" + dir, "PATH=" + defaultPath, "CHECKPOINT_DISABLE=1"},
		log: &out, box: s, rw: []string{dir}, ro: []string{binary},
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.run(ctx); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(out.String()))
	}
	uid := os.Geteuid()
	if s.uid >= 0 {
		uid = s.uid
	}
	// The command is the first child of bwrap's init in a PID namespace of
	// its own; the shell reports it.
	if want := fmt.Sprintf("uid=%d pid=2", uid); !strings.Contains(out.String(), want) {
		return fmt.Errorf("the sandboxed command did not report %q: %s", want, strings.TrimSpace(out.String()))
	}
	return nil
}

// own gives dir and everything in it to the run's user, when runs have one
// of their own; the agent (root) still reads and removes it.
func (s *Sandbox) own(dir string) error {
	if s == nil || s.uid < 0 {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, s.uid, s.gid)
	})
}

// usable reports whether the run's user can use a file or directory the
// agent's administrator installed (a hook): with a user of its own, the
// run needs it readable and executable by others.
func (s *Sandbox) usable(fi fs.FileInfo) bool {
	return s == nil || s.uid < 0 || fi.Mode().Perm()&0o005 == 0o005
}

// systemDirs are the system's programs and libraries, read-only. On a
// merged-/usr system the top-level ones are symlinks and stay symlinks.
var systemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// etcFiles are what of /etc programs need to resolve names, check TLS
// certificates and tell the time. passwd and group are written fresh.
// A file is copied into the sandbox (see etcCopy), a directory bound
// read-only.
var etcFiles = []string{
	"/etc/resolv.conf", "/etc/hosts", "/etc/host.conf", "/etc/nsswitch.conf", "/etc/gai.conf",
	"/etc/services", "/etc/protocols", "/etc/localtime", "/etc/ssl", "/etc/ca-certificates",
	"/etc/pki", "/etc/alternatives",
}

// loaderVars are stripped from a run's environment under a root agent:
// setpriv, which still holds CAP_SETUID when it starts, must not load code
// the run chose.
func loaderVar(k string) bool {
	return strings.HasPrefix(k, "LD_") || strings.HasPrefix(k, "MALLOC_") || strings.HasPrefix(k, "GLIBC_") ||
		k == "GCONV_PATH" || k == "LOCPATH" || k == "NLSPATH" || k == "HOSTALIASES" || k == "RESOLV_HOST_CONF"
}

// boxed is one command prepared to start in the sandbox.
type boxed struct {
	path  string
	args  []string
	files []*os.File // the child's fds 3…: bwrap's arguments, passwd, group, the info pipe
	info  *os.File   // our end of the info pipe
	pid   *sandboxPID
}

// wrap turns c into a bubblewrap command line. The options, environment
// included, go through a memfd (--args): the command line of a process is
// world-readable, its environment and fds are not.
func (s *Sandbox) wrap(c command) (*boxed, error) {
	b := &boxed{pid: &sandboxPID{fd: -1}}
	ok := false
	defer func() {
		if !ok {
			b.close()
		}
	}()
	fd := func(data []byte) (string, error) {
		f, err := memfd(data)
		if err != nil {
			return "", err
		}
		b.files = append(b.files, f)
		return strconv.Itoa(2 + len(c.extra) + len(b.files)), nil
	}
	uid, gid := os.Geteuid(), os.Getegid()
	if s.uid >= 0 {
		uid, gid = s.uid, s.gid
	}
	a := []string{
		"--unshare-pid", "--unshare-ipc", "--unshare-cgroup-try",
		"--die-with-parent",
	}
	if s.tty {
		// A new session has no controlling terminal, into which the run
		// could otherwise inject input (TIOCSTI). Without a terminal there
		// is nothing to protect, and the run stays in the agent's session
		// (and scheduling autogroup).
		a = append(a, "--new-session")
	}
	if s.setpriv != "" {
		// bwrap enters the working directory, the run user's, before
		// setpriv switches to that user, which drops every capability.
		a = append(a, "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_DAC_OVERRIDE")
	} else {
		a = append(a, "--unshare-user", "--disable-userns")
	}
	for _, d := range systemDirs {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&fs.ModeSymlink != 0:
			if t, err := os.Readlink(d); err == nil {
				a = append(a, "--symlink", t, d)
			}
		case fi.IsDir():
			a = append(a, "--ro-bind", d, d)
		}
	}
	// A file of /etc is copied into the sandbox's root instead of bound:
	// a bind mount is two mount calls when the sandbox starts and one more
	// to tear down when it ends, and /etc is most of the sandbox's mounts.
	// The copy is what a bind would show (the file as it is when the run
	// starts; a bound file is not a symlink either), and the root is made
	// read-only once everything is in place (below), so the run cannot
	// change it any more than a read-only bind.
	for _, f := range etcFiles {
		data, ok := etcCopy(f)
		if !ok {
			a = append(a, "--ro-bind-try", f, f)
			continue
		}
		n, err := fd(data)
		if err != nil {
			return nil, err
		}
		a = append(a, "--perms", "0444", "--file", n, f)
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/usr/sbin/nologin\nrun:x:%d:%d:runcred run:/tmp:/bin/sh\n", uid, gid)
	group := fmt.Sprintf("root:x:0:\nrun:x:%d:\n", gid)
	for _, f := range []struct{ name, data string }{{"/etc/passwd", passwd}, {"/etc/group", group}} {
		n, err := fd([]byte(f.data))
		if err != nil {
			return nil, err
		}
		a = append(a, "--perms", "0444", "--file", n, f.name)
	}
	a = append(a, "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp",
		"--perms", "0755", "--tmpfs", "/run", "--perms", "1777", "--tmpfs", "/var/tmp")
	// bwrap would make the directories above a bound path owner-only.
	for _, d := range parents(append(append([]string(nil), c.ro...), c.rw...)) {
		a = append(a, "--perms", "0755", "--dir", d)
	}
	for _, p := range c.ro {
		a = append(a, "--ro-bind", p, p)
	}
	for _, p := range c.rw {
		a = append(a, "--bind", p, p)
	}
	// The root holds the copies of /etc and the directories made above;
	// read-only, the run cannot replace any of them. The mounts on it (the
	// run directory, /tmp…) keep their own modes.
	a = append(a, "--remount-ro", "/")
	a = append(a, "--chdir", c.dir)
	for _, kv := range c.env {
		k, v, _ := strings.Cut(kv, "=")
		if s.setpriv != "" && loaderVar(k) {
			continue
		}
		a = append(a, "--setenv", k, v)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	b.info = pr
	b.files = append(b.files, pw)
	a = append(a, "--info-fd", strconv.Itoa(2+len(c.extra)+len(b.files)))
	var buf bytes.Buffer
	for _, x := range a {
		if strings.IndexByte(x, 0) >= 0 {
			return nil, errors.New("a sandbox argument contains a NUL byte")
		}
		buf.WriteString(x)
		buf.WriteByte(0)
	}
	argsFD, err := fd(buf.Bytes())
	if err != nil {
		return nil, err
	}
	// The command itself cannot come from --args; it holds no secret.
	b.path, b.args = s.bwrap, []string{"--args", argsFD, "--"}
	if s.setpriv != "" {
		b.args = append(b.args, s.setpriv, "--reuid="+strconv.Itoa(s.uid), "--regid="+strconv.Itoa(s.gid), "--clear-groups", "--")
	}
	b.args = append(b.args, c.path)
	b.args = append(b.args, c.args...)
	ok = true
	return b, nil
}

// started closes the child's copies of the fds and learns, from bwrap's
// info fd, the sandbox's PID 1 (bwrap's init; the command is its child).
func (b *boxed) started(bwrapPID int) {
	for _, f := range b.files {
		f.Close()
	}
	b.files = nil
	go func() {
		defer b.info.Close()
		_ = b.info.SetReadDeadline(time.Now().Add(time.Minute))
		var info struct {
			ChildPID int `json:"child-pid"`
		}
		if err := json.NewDecoder(b.info).Decode(&info); err != nil || info.ChildPID <= 0 {
			b.pid.set(-1, 0)
			return
		}
		pfd, err := unix.PidfdOpen(info.ChildPID, 0)
		// The pid is bwrap's child unless it already exited and was
		// reaped; then the pidfd may name an unrelated process.
		if err == nil && parentOf(info.ChildPID) != bwrapPID {
			unix.Close(pfd)
			err = errors.New("not bwrap's child")
		}
		if err != nil {
			b.pid.set(-1, 0)
			return
		}
		b.pid.set(pfd, info.ChildPID)
	}()
}

func (b *boxed) close() {
	for _, f := range b.files {
		f.Close()
	}
	if b.info != nil {
		b.info.Close()
	}
}

// etcMax bounds a file of /etc copied into the sandbox: those of etcFiles
// are a few kilobytes; a bigger one is bound rather than read at every
// start.
const etcMax = 1 << 20

// etcCopy reads f, following symlinks, for a copy in the sandbox. It
// reports false for anything else than a regular file it can read (a
// directory, a missing file…), which is then bound if it exists, as it
// always was.
func etcCopy(f string) ([]byte, bool) {
	fi, err := os.Stat(f)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > etcMax {
		return nil, false
	}
	data, err := os.ReadFile(f)
	if err != nil || len(data) > etcMax {
		return nil, false
	}
	return data, true
}

// parentOf reads the parent pid from /proc/<pid>/stat; -1 if unknown.
func parentOf(pid int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// pid (comm) state ppid …; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 {
		return -1
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return -1
	}
	return n
}

// sandboxPID is the sandbox's PID 1, bwrap's init, through a pidfd so
// that a signal never reaches a process that reused its pid. The command
// is its only child. Killing the init ends the PID namespace: every
// process of the run dies with it. bwrap's init forwards no signal, so a
// signal for the command is sent to that child directly.
type sandboxPID struct {
	mu      sync.Mutex
	fd      int // pidfd of the init; -1 until known or when unknowable
	pid     int // its pid in the agent's PID namespace
	known   bool
	pending unix.Signal // asked before the pid was known
	killed  bool
}

func (p *sandboxPID) set(fd, pid int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fd, p.pid, p.known = fd, pid, true
	switch {
	case p.killed && fd >= 0:
		_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		unix.Close(fd)
		p.fd = -1
	case p.pending != 0:
		_ = p.sendLocked(p.pending)
	}
}

// signal sends sig to the sandboxed command, now or as soon as the
// sandbox's init is known.
func (p *sandboxPID) signal(sig unix.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.known {
		p.pending = sig
		return nil
	}
	return p.sendLocked(sig)
}

func (p *sandboxPID) sendLocked(sig unix.Signal) error {
	// A live pidfd pins the init's identity: p.pid is still its pid.
	if p.fd < 0 || unix.PidfdSendSignal(p.fd, 0, nil, 0) != nil {
		return nil
	}
	cfd := p.commandFD()
	if cfd < 0 {
		// The command has not started (or already ended): there is
		// nothing to stop gracefully.
		return ignoreGone(unix.PidfdSendSignal(p.fd, unix.SIGKILL, nil, 0))
	}
	defer unix.Close(cfd)
	return ignoreGone(unix.PidfdSendSignal(cfd, sig, nil, 0))
}

// commandFD opens a pidfd for the init's child, the sandboxed command, or
// returns -1.
func (p *sandboxPID) commandFD() int {
	_, fd := firstChild(p.pid)
	return fd
}

// firstChild opens a pidfd for the oldest living child of parent (the
// one it started; orphans reparented to it come after), and returns its
// pid and that pidfd, or -1 for both.
func firstChild(parent int) (int, int) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", parent, parent))
	if err != nil {
		return -1, -1
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return -1, -1
	}
	child, err := strconv.Atoi(f[0])
	if err != nil {
		return -1, -1
	}
	cfd, err := unix.PidfdOpen(child, 0)
	if err != nil {
		return -1, -1
	}
	// The pidfd pins the process; checking its parent after opening it
	// proves it is the child read above, not a process that reused its
	// pid.
	if parentOf(child) != parent {
		unix.Close(cfd)
		return -1, -1
	}
	return child, cfd
}

// interrupt stops a sequence's shell (see sequence): SIGUSR1 tells it to
// start no further command, and the command it runs, if any, gets SIGINT
// from here, once. The command is the shell's only child. It is looked
// for until ended is closed, since the shell may have started one just
// before it took the SIGUSR1: that one is interrupted too, and nothing
// after it starts. Sending SIGINT from the agent, never from the shell as
// well, is what makes it exactly once: a second SIGINT makes OpenTofu
// exit at once, without writing its state.
func (p *sandboxPID) interrupt(ended <-chan struct{}) {
	_ = p.signal(unix.SIGUSR1)
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var shellFD, shell, done = -1, 0, 0
		defer func() {
			if shellFD >= 0 {
				unix.Close(shellFD)
			}
		}()
		for {
			if shellFD < 0 {
				p.mu.Lock()
				if p.known && p.fd >= 0 {
					shell, shellFD = firstChild(p.pid)
				}
				p.mu.Unlock()
			}
			if shellFD >= 0 && unix.PidfdSendSignal(shellFD, 0, nil, 0) == nil {
				if pid, cfd := firstChild(shell); cfd >= 0 {
					if pid != done {
						_ = unix.PidfdSendSignal(cfd, unix.SIGINT, nil, 0)
						done = pid
					}
					unix.Close(cfd)
				}
			}
			select {
			case <-ended:
				return
			case <-t.C:
			}
		}
	}()
}

func ignoreGone(err error) error {
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	return err
}

// kill ends the sandbox (now or as soon as its init is known) and releases
// the pidfd.
func (p *sandboxPID) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killed = true
	if p.known && p.fd >= 0 {
		_ = unix.PidfdSendSignal(p.fd, unix.SIGKILL, nil, 0)
		unix.Close(p.fd)
		p.fd = -1
	}
}

func memfd(data []byte) (*os.File, error) {
	n, err := unix.MemfdCreate("runcred-sandbox", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd: %w", err)
	}
	f := os.NewFile(uintptr(n), "memfd")
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, 0); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// parents lists the directories above paths, parents first, except those
// the sandbox already has (the root, the system's directories, /tmp…).
func parents(paths []string) []string {
	have := map[string]bool{"/": true, "/tmp": true, "/run": true, "/var/tmp": true, "/proc": true, "/dev": true, "/etc": true}
	var out []string
	for _, p := range paths {
		var up []string
		for d := filepath.Dir(filepath.Clean(p)); !have[d]; d = filepath.Dir(d) {
			if system(d) {
				break
			}
			have[d] = true
			up = append(up, d)
		}
		for i := len(up) - 1; i >= 0; i-- {
			out = append(out, up[i])
		}
	}
	return out
}

// system reports whether d is, or is inside, one of systemDirs.
func system(d string) bool {
	for _, s := range systemDirs {
		if d == s || strings.HasPrefix(d, s+"/") {
			return true
		}
	}
	return false
}
