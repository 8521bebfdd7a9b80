# Thin wrapper over CMake: `make` builds build/lmc, `make test` runs every suite through ctest,
# `make format` applies .clang-format, `make format-check` checks it (CI),
# `make asan` builds and runs the tests under AddressSanitizer + UndefinedBehaviorSanitizer.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all test asan clean format format-check

all: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

asan:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLMC_SANITIZE=ON -DLMC_CUDA=OFF
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS) -R '^test_'

# clang-format 14 over every tracked C/CUDA file; format-check only lists what differs (CI runs it).
format:
	scripts/format.sh

format-check:
	scripts/format.sh --check

clean:
	rm -rf $(BUILD) build-asan
