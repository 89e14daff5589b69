// Goroutines, channels, sync.WaitGroup, timers and tickers, a recovered
// nil-pointer panic and runtime.GOMAXPROCS. One line per check, then
// "goroutines ok" (exit status 1 on a failure).
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

var failed bool

func check(ok bool, format string, args ...interface{}) {
	line := fmt.Sprintf(format, args...)
	if !ok {
		line = "FAIL: " + line
		failed = true
	}
	fmt.Println(line)
}

type node struct{ next *node }

// deref follows a nil pointer; the fault becomes a panic that it recovers.
func deref(n *node) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	_ = n.next.next
	return "no panic"
}

// panicOuter, panicMiddle and panicInner: `go-goroutines panic` dies of an
// unrecovered panic three calls down; Go's runtime prints their frames.
//
//go:noinline
func panicOuter(n int) { panicMiddle(n + 1) }

//go:noinline
func panicMiddle(n int) { panicInner(n + 1) }

//go:noinline
func panicInner(n int) { panic(fmt.Sprintf("go-goroutines: panic three calls down (%d)", n)) }

func main() {
	if len(os.Args) > 1 && os.Args[1] == "panic" {
		panicOuter(1)
	}
	// Goroutines and a WaitGroup: 100 goroutines add into a mutex-guarded sum.
	var wg sync.WaitGroup
	var mu sync.Mutex
	sum := 0
	for i := 1; i <= 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			mu.Lock()
			sum += i
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	check(sum == 5050, "waitgroup: 100 goroutines, sum %d", sum)

	// Channels: a pipeline of three stages.
	nums := make(chan int)
	squares := make(chan int, 8)
	go func() {
		for i := 0; i < 1000; i++ {
			nums <- i
		}
		close(nums)
	}()
	go func() {
		for n := range nums {
			squares <- n * n
		}
		close(squares)
	}()
	total := 0
	for s := range squares {
		total += s
	}
	check(total == 332833500, "channels: pipeline sum %d", total)

	// Sleep, timers and tickers.
	start := time.Now()
	time.Sleep(50 * time.Millisecond)
	slept := time.Since(start)
	check(slept >= 50*time.Millisecond, "sleep: at least 50ms")
	timer := time.NewTimer(30 * time.Millisecond)
	<-timer.C
	ticker := time.NewTicker(10 * time.Millisecond)
	ticks := 0
	for range ticker.C {
		ticks++
		if ticks == 5 {
			break
		}
	}
	ticker.Stop()
	select {
	case <-time.After(20 * time.Millisecond):
		check(ticks == 5, "timers: timer fired, %d ticks, time.After fired", ticks)
	case <-time.After(10 * time.Second):
		check(false, "timers: time.After did not fire")
	}

	// A nil-pointer dereference, recovered.
	fmt.Println("recovered:", deref(nil))

	// GOMAXPROCS and many goroutines at once, parked on a channel.
	procs := runtime.GOMAXPROCS(0)
	check(procs >= 1, "gomaxprocs: %d", procs)
	runtime.GOMAXPROCS(2)
	release := make(chan struct{})
	done := make(chan int, 1000)
	for i := 0; i < 1000; i++ {
		go func(i int) {
			<-release
			done <- i
		}(i)
	}
	close(release)
	got := 0
	for i := 0; i < 1000; i++ {
		got += <-done
	}
	check(got == 499500, "parked: 1000 goroutines released, sum %d", got)

	if failed {
		os.Exit(1)
	}
	fmt.Println("goroutines ok")
}
