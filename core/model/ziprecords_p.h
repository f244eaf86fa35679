#pragma once
// Private header: the records of a PyTorch zip archive, read with bounds.

#include <QByteArray>
#include <QString>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace leantune {

// The records of a zip archive as torch.save() and LibTorch write them ("NAME/data.pkl",
// "NAME/data/0", ...; stored or deflated, zip64 included), read from a file or from bytes in
// memory. Nothing is inflated beyond what the central directory declares, a record's size is
// known before any of it is read, and all deflated records together inflate to at most 64 MiB plus
// 8 times the archive's size, so a crafted archive (a zip bomb, a lying header) is refused instead
// of exhausting memory. Not thread-safe.
class ZipRecords {
public:
    // Reads PATH's central directory; std::nullopt + *error (one line) when it is no zip archive,
    // is truncated or is malformed.
    static std::optional<ZipRecords> openFile(const QString &path, QString *error);
    static std::optional<ZipRecords> fromBytes(const QByteArray &bytes, QString *error);

    // Whether record NAME (relative to the archive's top folder: "data.pkl", "data/0") exists.
    bool has(const std::string &name) const;
    // Its size once inflated, as the central directory declares it; std::nullopt when missing.
    std::optional<std::uint64_t> size(const std::string &name) const;
    // The record's bytes; std::nullopt + *error when it is missing, larger than MAXBYTES, runs past
    // the archive, inflates to another size than declared or over the archive's inflation budget.
    std::optional<std::string> read(
        const std::string &name, std::uint64_t maxBytes, QString *error = nullptr);

private:
    struct Entry {
        std::uint64_t localHeader = 0;
        std::uint64_t compressedSize = 0;
        std::uint64_t size = 0;
        std::uint16_t method = 0; // 0 stored, 8 deflated
    };
    using ReadAt = std::function<bool(std::uint64_t offset, char *into, std::uint64_t n)>;
    static std::optional<ZipRecords> open(std::uint64_t archiveSize, ReadAt readAt, QString *error);
    bool readAt(std::uint64_t offset, char *into, std::uint64_t n) const;

    std::uint64_t m_archiveSize = 0;
    ReadAt m_readAt;
    std::map<std::string, Entry> m_entries; // by name below the top folder
    std::uint64_t m_inflateBudget = 0;
};

} // namespace leantune
