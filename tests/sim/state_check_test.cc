// What a simulated node's state file may be before it is trusted: a state file is created only
// where nothing else lives, and opened only after every field processes rely on was checked.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fakes/temp_dir.h"
#include "sim/process_account.h"
#include "sim/state.h"
#include "sim/state_surgery.h"

namespace gpuslice::sim {
namespace {

using ::testing::HasSubstr;
using ::gpuslice::testing::EditStateFile;

SimSpec TwoT4s() { return *ParseSpecString("2xT4"); }

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

pthread_mutex_t& MutexOf(internal::RobustMutex& mutex) {
  return *reinterpret_cast<pthread_mutex_t*>(&mutex);
}

class StateCheckTest : public ::testing::Test {
 protected:
  // A fresh valid state file at path_.
  void CreateState() {
    ASSERT_TRUE(SimState::Create(path_, TwoT4s(), "2xT4", /*replace=*/true).ok());
  }

  // Opens path_ after `change`; returns the error message ("" when it opened).
  std::string OpenAfter(const std::function<void(internal::StateFile&)>& change) {
    CreateState();
    EXPECT_TRUE(EditStateFile(path_, change));
    Result<std::unique_ptr<SimState>> state = SimState::Open(path_, std::chrono::milliseconds(50));
    if (state.ok()) return "";
    EXPECT_EQ(state.status().code(), StatusCode::kFailedPrecondition);
    return state.status().message();
  }

  ::gpuslice::testing::TempDir dir_;
  const std::string path_ = dir_.Sub("node.state");
};

TEST_F(StateCheckTest, CreateNeverReplacesAFifoASocketOrADirectory) {
  ASSERT_EQ(mkfifo(dir_.Sub("fifo").c_str(), 0600), 0);
  for (bool replace : {false, true}) {
    Result<std::unique_ptr<SimState>> state =
        SimState::Create(dir_.Sub("fifo"), TwoT4s(), "2xT4", replace);
    ASSERT_EQ(state.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(state.status().message(), "'" + dir_.Sub("fifo") +
                                            "' is a FIFO (named pipe), not a state file: "
                                            "gpuslice never replaces it");
  }
  struct stat info;
  ASSERT_EQ(stat(dir_.Sub("fifo").c_str(), &info), 0);
  EXPECT_TRUE(S_ISFIFO(info.st_mode));

  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", dir_.Sub("sock").c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_THAT(SimState::Create(dir_.Sub("sock"), TwoT4s(), "2xT4", true).status().message(),
              HasSubstr("is a socket, not a state file"));
  close(fd);
  std::filesystem::create_directories(dir_.Sub("dir"));
  EXPECT_THAT(SimState::Create(dir_.Sub("dir"), TwoT4s(), "2xT4", true).status().message(),
              HasSubstr("is a directory, not a state file"));
  // Through a symlink, what counts is what it points to.
  ASSERT_EQ(symlink(dir_.Sub("fifo").c_str(), dir_.Sub("link").c_str()), 0);
  EXPECT_THAT(SimState::Create(dir_.Sub("link"), TwoT4s(), "2xT4", true).status().message(),
              HasSubstr("is a FIFO (named pipe)"));
}

TEST_F(StateCheckTest, ReplaceOverwritesOnlyAStateFile) {
  std::ofstream(path_) << "my notes\n";
  Result<std::unique_ptr<SimState>> notes = SimState::Create(path_, TwoT4s(), "2xT4", true);
  ASSERT_EQ(notes.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(notes.status().message(), HasSubstr("is not a gpuslice simulated-GPU state file"));
  EXPECT_EQ(Slurp(path_), "my notes\n");
  // An empty file is where nothing lives yet, as the device plugin or mktemp leave it.
  std::ofstream(path_, std::ios::trunc).close();
  EXPECT_TRUE(SimState::Create(path_, TwoT4s(), "2xT4", false).ok());
  EXPECT_TRUE(SimState::Create(path_, *ParseSpecString("1xL4"), "1xL4", true).ok());
}

TEST_F(StateCheckTest, ASymlinkToAStateFileStaysASymlink) {
  CreateState();
  ASSERT_EQ(symlink(path_.c_str(), dir_.Sub("link").c_str()), 0);
  Result<std::unique_ptr<SimState>> state =
      SimState::Create(dir_.Sub("link"), *ParseSpecString("1xL4"), "1xL4", true);
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_TRUE(std::filesystem::is_symlink(dir_.Sub("link")));
  EXPECT_EQ((*SimState::Open(path_))->gpu(0).name, "NVIDIA L4");
}

TEST_F(StateCheckTest, OpeningAFifoOrADeviceNeverBlocksOrMaps) {
  ASSERT_EQ(mkfifo(dir_.Sub("fifo").c_str(), 0600), 0);
  EXPECT_THAT(SimState::Open(dir_.Sub("fifo")).status().message(),
              HasSubstr("is a FIFO (named pipe), not a state file"));
  const auto spec = [] { return Result<SimSpec>(TwoT4s()); };
  EXPECT_EQ(SimState::OpenOrCreate(dir_.Sub("fifo"), "2xT4", spec).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_THAT(SimState::Open("/dev/zero").status().message(),
              HasSubstr("is a character device, not a state file"));
}

TEST_F(StateCheckTest, AnIntactFileOpens) { EXPECT_EQ(OpenAfter([](internal::StateFile&) {}), ""); }

TEST_F(StateCheckTest, EveryCorruptionIsNamed) {
  struct Case {
    const char* what;
    std::function<void(internal::StateFile&)> change;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"ready flag", [](internal::StateFile& f) { f.ready.store(7); }, "ready flag 7"},
      {"gpu facts", [](internal::StateFile& f) { f.gpus[1].facts.memory_bytes = 0; },
       "gpu 1 (T4): memory '0' must be between"},
      {"uuid", [](internal::StateFile& f) { f.gpus[0].facts.uuid[4] = '\n'; },
       "gpu 0 (T4): uuid"},
      {"lost flag", [](internal::StateFile& f) { f.gpus[0].lost.store(0xdeadbeef); },
       "GPU 0: lost flag 3735928559"},
      {"mutex kind",
       [](internal::StateFile& f) { MutexOf(f.gpus[1].memory_lock).__data.__kind = 3; },
       "GPU 1: memory lock not a robust process-shared mutex"},
      {"unrecoverable mutex",
       [](internal::StateFile& f) {
         MutexOf(f.gpus[0].event_lock).__data.__owner = 0x7ffffffe;
       },
       "GPU 0: event lock marked unrecoverable"},
      {"impossible holder",
       [](internal::StateFile& f) { MutexOf(f.gpus[0].timeline_lock).__data.__lock = 0x3fffffff; },
       "GPU 0: timeline lock held by no possible thread"},
      {"stuck holder",
       [](internal::StateFile& f) { MutexOf(f.gpus[0].timeline_lock).__data.__lock = 4000000; },
       "GPU 0: timeline lock held by thread 4000000 for more than 50 ms"},
      {"snapshot ring", [](internal::StateFile& f) { f.gpus[1].next_snapshot = 32; },
       "GPU 1: utilization snapshot position 32"},
      {"sample ring", [](internal::StateFile& f) { f.gpus[1].next_process_sample = 1u << 31; },
       "GPU 1: process sample position"},
      {"sample count", [](internal::StateFile& f) { f.gpus[0].process_samples[3].count = 33; },
       "GPU 0: a process sample of 33 processes"},
      {"slots in use", [](internal::StateFile& f) { f.slots_in_use.store(5000); },
       "5000 process slots in use of 1024"},
      {"slot state", [](internal::StateFile& f) { f.slots[0].state.store(9); },
       "process slot 0: state 9"},
      {"slot past the mark",
       [](internal::StateFile& f) {
         f.slots[700].state.store(internal::kSlotExited);
         f.slots[700].pid.store(12);
       },
       "process slot 700: in use past the slots ever claimed"},
      {"slot pid",
       [](internal::StateFile& f) {
         f.slots_in_use.store(1);
         f.slots[0].state.store(internal::kSlotExited);
       },
       "process slot 0: PID 0"},
      {"memory on a missing gpu",
       [](internal::StateFile& f) {
         f.slots_in_use.store(1);
         f.slots[0].state.store(internal::kSlotLive);
         f.slots[0].pid.store(1);
         f.slots[0].memory[5].store(1);
       },
       "memory on GPU 5, which the node does not have"},
      {"checkpointed memory on a missing gpu",
       [](internal::StateFile& f) {
         f.slots_in_use.store(1);
         f.slots[0].state.store(internal::kSlotLive);
         f.slots[0].pid.store(1);
         f.slots[0].checkpointed_memory[6].store(1);
       },
       "memory on GPU 6, which the node does not have"},
      {"checkpoint state",
       [](internal::StateFile& f) {
         f.slots_in_use.store(1);
         f.slots[0].state.store(internal::kSlotLive);
         f.slots[0].pid.store(1);
         f.slots[0].checkpoint_state.store(7);
       },
       "process slot 0: checkpoint state 7"},
      {"memory total",
       [](internal::StateFile& f) { f.gpus[0].memory_used = 1 << 20; },
       "GPU 0: 1048576 bytes in use, but its processes hold 0"},
      {"memory of an exited slot",
       [](internal::StateFile& f) {
         f.slots_in_use.store(1);
         f.slots[0].state.store(internal::kSlotExited);
         f.slots[0].pid.store(1);
         f.slots[0].memory[0].store(4096);
         f.gpus[0].memory_used = 4096;
       },
       "GPU 0: memory held by a process slot not in use"},
      {"more memory than the gpu",
       [](internal::StateFile& f) {
         f.slots_in_use.store(2);
         for (int s = 0; s < 2; ++s) {
           f.slots[s].state.store(internal::kSlotLive);
           f.slots[s].pid.store(1);
           f.slots[s].memory[0].store(uint64_t{1} << 63);
         }
       },
       "GPU 0: processes hold more memory than it has"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string message = OpenAfter(c.change);
    EXPECT_THAT(message, HasSubstr("state file '" + path_ + "' is corrupt: "));
    EXPECT_THAT(message, HasSubstr(c.message));
  }
}

TEST_F(StateCheckTest, AFileOfZerosOrGarbageOfTheRightSizeIsRefused) {
  CreateState();
  ASSERT_TRUE(EditStateFile(path_, [](internal::StateFile& f) {
    std::memset(reinterpret_cast<char*>(&f) + 64, 0xa5, sizeof(f) - 64);
  }));
  EXPECT_THAT(SimState::Open(path_, std::chrono::milliseconds(50)).status().message(),
              HasSubstr("is corrupt"));
  ASSERT_TRUE(EditStateFile(path_, [](internal::StateFile& f) {
    std::memset(reinterpret_cast<char*>(&f), 0, sizeof(f));
  }));
  EXPECT_THAT(SimState::Open(path_).status().message(),
              HasSubstr("is not a gpuslice simulated-GPU state file"));
}

TEST_F(StateCheckTest, ProcessesThatUsedTheGpusLeaveAFileThatOpens) {
  CreateState();
  Result<std::unique_ptr<SimState>> state = SimState::Open(path_);
  ASSERT_TRUE(state.ok());
  Result<std::unique_ptr<ProcessAccount>> account = ProcessAccount::Register(state->get());
  ASSERT_TRUE(account.ok()) << account.status().ToString();
  ASSERT_TRUE((*account)->Reserve(1, 1 << 20).ok());
  EXPECT_TRUE(SimState::Open(path_).ok());
  account->reset();
  EXPECT_TRUE(SimState::Open(path_).ok());
}

}  // namespace
}  // namespace gpuslice::sim
