// Where the installed (or built) gpuslice libraries are, relative to the running binary.
#pragma once

#include <string>

namespace gpuslice::cli {

// The lib/ directory next to this executable's bin/ directory: build/<preset>/lib in a build
// tree, /usr/local/gpuslice/lib in the image.
std::string SiblingLibDir();

}  // namespace gpuslice::cli
