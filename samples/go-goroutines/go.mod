module kiln.example/go-goroutines

go 1.19
