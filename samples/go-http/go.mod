module kiln.example/go-http

go 1.19
