module github.com/vigil-lb/vigil

go 1.26.8
