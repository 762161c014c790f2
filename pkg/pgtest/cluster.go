package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// Cluster is a throwaway Postgres server of a test's own, made with initdb,
// that the test may stop and start (to prove recovery from a database
// restart) without disturbing the server other tests share.
type Cluster struct {
	t       testing.TB
	bin     string
	dir     string
	port    int
	asUser  []string
	running bool
}

// NewCluster creates and starts a cluster; it is stopped and removed at the
// end of the test. Without initdb and pg_ctl the test is skipped, or fails
// when CI is set.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		err := fmt.Errorf("initdb and pg_ctl are not installed")
		if os.Getenv("CI") != "" {
			t.Fatalf("pgtest: a throwaway cluster is required in CI: %v", err)
		}
		t.Skipf("pgtest: %v", err)
	}
	dir, err := os.MkdirTemp("", "barista-pg-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	c := &Cluster{t: t, bin: bin, dir: dir, port: freePort(t)}
	// initdb and postgres refuse to run as root: run them as postgres then.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("pgtest: running as root needs a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		c.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	t.Cleanup(func() {
		if c.running {
			c.run("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop")
		}
		os.RemoveAll(dir)
	})
	c.run("initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "--no-sync")
	c.Start()
	return c
}

// URL is the URL of the cluster's postgres database.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Start starts the server and waits until it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "server.log"), "-w", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", c.port, c.dir), "start")
	c.running = true
}

// Crash stops the server the way a crash does: immediately, without a
// checkpoint, so the next start replays the write-ahead log.
func (c *Cluster) Crash() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop")
	c.running = false
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) run(tool string, args ...string) {
	c.t.Helper()
	argv := append(append([]string{}, c.asUser...), append([]string{filepath.Join(c.bin, tool)}, args...)...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("pgtest: %s: %v\n%s", tool, err, out)
	}
}

// postgresBin returns the directory holding initdb and pg_ctl, or "".
func postgresBin() string {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	dirs = append(dirs, versions...)
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) {
			return d
		}
	}
	return ""
}

func isExec(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func freePort(t testing.TB) int {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer lis.Close()
	return lis.Addr().(*net.TCPAddr).Port
}
