package daemon

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestActivatedIgnoresOtherProcess(t *testing.T) {
	for _, env := range [][2]string{{"", ""}, {"1", "1"}, {fmt.Sprint(os.Getpid() + 1), "1"}} {
		ln, err := Activated(env[0], env[1])
		if ln != nil || err != nil {
			t.Errorf("Activated(%q, %q) = %v, %v; want nil, nil", env[0], env[1], ln, err)
		}
	}
	if _, err := Activated(fmt.Sprint(os.Getpid()), "2"); err == nil || !strings.Contains(err.Error(), "exactly one") {
		t.Errorf("two sockets: %v", err)
	}
}

func TestNotify(t *testing.T) {
	addr := filepath.Join(t.TempDir(), "notify")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := Notify(addr, "READY=1"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := pc.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if err := Notify("", "READY=1"); err != nil {
		t.Errorf("Notify without NOTIFY_SOCKET: %v", err)
	}
}
