// A Go net/http server.
//
//	go-http [PORT]        (default 8080; listens on every address)
//
// GET / answers a short page; GET /big 1 MiB of deterministic bytes (byte i
// is (i*7 + i/1024) % 251). net/http does keep-alive and Content-Length.
package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
)

const bigSize = 1 << 20

func main() {
	port := 8080
	if len(os.Args) > 1 {
		p, err := strconv.Atoi(os.Args[1])
		if err != nil {
			log.Fatalf("PORT must be a number: %v", err)
		}
		port = p
	}
	big := make([]byte, bigSize)
	for i := range big {
		big[i] = byte((i*7 + i/1024) % 251)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "hello from go-http on Kiln\n")
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		w.Write(big)
	})

	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("go listening on %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, mux))
}
