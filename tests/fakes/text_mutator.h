// Seeded random edits of valid inputs, for the parser fuzz tests: every parser of external
// text (configs, specs, manifests, catalogs, traces, environment values) is fed mutations of
// valid documents and must answer with a value or an error, never crash.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace gpuslice::testing {

class TextMutator {
 public:
  // `alphabet` holds the characters edits insert: the syntax that matters to the parser.
  TextMutator(uint64_t seed, std::string alphabet) : rng_(seed), alphabet_(std::move(alphabet)) {}

  // Applies 1 to `max_edits` random edits: replace, insert or delete characters, cut the
  // text short, or copy a piece of it elsewhere (duplicated keys, nested structure).
  std::string Mutate(std::string text, int max_edits = 6) {
    const int edits = 1 + static_cast<int>(rng_() % static_cast<uint64_t>(max_edits));
    for (int e = 0; e < edits; ++e) {
      const size_t at = text.empty() ? 0 : rng_() % (text.size() + 1);
      switch (rng_() % 5) {
        case 0:
          if (at < text.size()) text[at] = Character();
          break;
        case 1:
          text.insert(at, 1, Character());
          break;
        case 2:
          if (at < text.size()) text.erase(at, 1 + rng_() % 8);
          break;
        case 3:
          if (rng_() % 4 == 0) text.resize(at);  // rarer: most inputs should stay long
          break;
        default:
          if (!text.empty()) text.insert(at, text.substr(rng_() % text.size(), 1 + rng_() % 24));
          break;
      }
    }
    return text;
  }

  // A random number below `bound`, from the same seeded sequence.
  uint64_t Below(uint64_t bound) { return rng_() % bound; }

 private:
  char Character() { return alphabet_[rng_() % alphabet_.size()]; }

  std::mt19937_64 rng_;
  std::string alphabet_;
};

}  // namespace gpuslice::testing
