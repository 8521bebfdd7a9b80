# Thin wrapper over CMake: `make` builds build/lmc, `make test` runs every suite through ctest,
# `make format` applies .clang-format, `make format-check` checks it (CI),
# `make asan` builds and runs the tests under AddressSanitizer + UndefinedBehaviorSanitizer,
# `make fuzz` runs each libFuzzer target for FUZZ_SECONDS (default 60).
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all test asan fuzz clean format format-check

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

# libFuzzer targets (clang, ASan + UBSan) over the committed seeds in fuzz/corpus/, each for
# FUZZ_SECONDS; new inputs go to build-fuzz/corpus/, crashes to build-fuzz/artifacts/ (docs/FUZZING.md).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= fuzz_gguf fuzz_jinja fuzz_tokenizer fuzz_request fuzz_grammar
fuzz:
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLMC_FUZZ=ON -DLMC_CUDA=OFF
	cmake --build build-fuzz -j $(JOBS) --target $(FUZZ_TARGETS)
	scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# clang-format 14 over every tracked C/CUDA file; format-check only lists what differs (CI runs it).
format:
	scripts/format.sh

format-check:
	scripts/format.sh --check

clean:
	rm -rf $(BUILD) build-asan build-fuzz
