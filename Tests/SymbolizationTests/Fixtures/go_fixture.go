// A Go executable for the symbolization tests: prints the run-time addresses of
// its functions, then waits for stdin to close.
package main

import (
	"bufio"
	"fmt"
	"os"
	"reflect"
)

//go:noinline
func Spin(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i * i
	}
	return s
}

type Worker struct{ n int }

//go:noinline
func (w *Worker) Run() int { return Spin(w.n) }

func main() {
	fmt.Printf("main.Spin %#x\n", reflect.ValueOf(Spin).Pointer())
	fmt.Printf("main.(*Worker).Run %#x\n", reflect.ValueOf((*Worker).Run).Pointer())
	fmt.Printf("main.main %#x\n", reflect.ValueOf(main).Pointer())
	fmt.Printf("fmt.Printf %#x\n", reflect.ValueOf(fmt.Printf).Pointer())
	bufio.NewReader(os.Stdin).ReadString(0)
	w := &Worker{3}
	os.Exit(w.Run() & 0)
}
