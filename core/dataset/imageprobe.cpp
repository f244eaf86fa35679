#include "dataset/imageprobe.h"

#include "metrics/bytesize.h"

#include <QFile>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace leantune {

namespace {

constexpr int kHeadBytes = 4096; // enough for nearly every header; more is read on demand
constexpr int kTailBytes = 16; // end-of-image markers (JPEG FFD9, PNG IEND)
constexpr int kWindowBytes = 4096; // read size for bytes past the head (JPEG segments, TIFF IFDs)
constexpr int kMaxJpegSegments = 65536;
constexpr int kMaxTiffEntries = 4096;
constexpr int kMaxPnmHeaderBytes = 65536;

quint32 be16(const uchar *p)
{
    return quint32(p[0]) << 8 | p[1];
}
quint32 be32(const uchar *p)
{
    return quint32(p[0]) << 24 | quint32(p[1]) << 16 | quint32(p[2]) << 8 | p[3];
}
quint32 le16(const uchar *p)
{
    return quint32(p[1]) << 8 | p[0];
}
quint32 le24(const uchar *p)
{
    return quint32(p[2]) << 16 | quint32(p[1]) << 8 | p[0];
}
quint32 le32(const uchar *p)
{
    return quint32(p[3]) << 24 | quint32(p[2]) << 16 | quint32(p[1]) << 8 | p[0];
}

// Random access to a file's bytes: the head read up front and, when a file is open, anything
// else on demand through a small read window (JPEG segments and TIFF directories may lie past
// the head).
class ByteSource {
public:
    ByteSource(const QByteArray &head, qint64 fileSize, QFile *file)
        : m_head(head)
        , m_size(fileSize)
        , m_file(file)
    {
    }

    qint64 size() const { return m_size; }
    const QByteArray &head() const { return m_head; }

    // Copies n bytes at offset into out. False when they lie past the end of the file, or past the
    // head when there is no file to read from.
    bool read(qint64 offset, int n, uchar *out)
    {
        if (offset < 0 || n < 0 || offset + n > m_size)
            return false;
        if (offset + n <= m_head.size()) {
            std::memcpy(out, m_head.constData() + offset, size_t(n));
            return true;
        }
        if (!m_file)
            return false;
        if (m_windowOffset < 0 || offset < m_windowOffset
            || offset + n > m_windowOffset + m_window.size()) {
            if (!m_file->seek(offset))
                return false;
            m_window = m_file->read(std::max(n, kWindowBytes));
            m_windowOffset = offset;
            if (m_window.size() < n)
                return false;
        }
        std::memcpy(out, m_window.constData() + (offset - m_windowOffset), size_t(n));
        return true;
    }

    int byteAt(qint64 offset)
    {
        uchar b = 0;
        return read(offset, 1, &b) ? b : -1;
    }

private:
    const QByteArray &m_head;
    qint64 m_size;
    QFile *m_file;
    QByteArray m_window;
    qint64 m_windowOffset = -1;
};

// What a format parser found: the header, the least file size its pixel data needs (0: unknown),
// and the layout OpenCV decodes it to (channels 0: the header's).
struct Parsed {
    ImageHeader header;
    double minFileSize = 0;
    int decodedChannels = 0;
    int bytesPerSample = 1;
};

bool fail(QString *error, const QString &reason)
{
    *error = reason;
    return false;
}

// Why bytes up to END could not be read: the file ends before them, or only its head is at hand.
QString truncatedOrUnavailable(ByteSource &src, qint64 end, const QString &format)
{
    if (end > src.size())
        return QStringLiteral("truncated %1 (header incomplete)").arg(format);
    return QStringLiteral("corrupt %1 header (not within the first %2 bytes)")
        .arg(format)
        .arg(src.head().size());
}

// --- JPEG: walk the marker segments up to the first start-of-frame -------------------------------

bool parseJpeg(ByteSource &src, Parsed *out, QString *error)
{
    qint64 pos = 2; // past SOI
    qint64 need = 3; // end of the bytes the walk needs next
    for (int segment = 0; segment < kMaxJpegSegments; ++segment) {
        need = pos + 1;
        int b = src.byteAt(pos);
        if (b < 0)
            return fail(error, truncatedOrUnavailable(src, need, QStringLiteral("JPEG")));
        if (b != 0xFF)
            return fail(
                error, QStringLiteral("corrupt JPEG header (bad marker at byte %1)").arg(pos));
        while (b == 0xFF) // fill bytes
            b = src.byteAt(++pos);
        need = pos + 1;
        if (b < 0)
            return fail(error, truncatedOrUnavailable(src, need, QStringLiteral("JPEG")));
        const int marker = b;
        ++pos;
        if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7))
            continue; // standalone markers carry no length
        if (marker == 0xD9 || marker == 0xDA)
            return fail(error,
                QStringLiteral("corrupt JPEG header (no frame header before the image data)"));
        uchar len[2];
        need = pos + 2;
        if (!src.read(pos, 2, len))
            return fail(error, truncatedOrUnavailable(src, need, QStringLiteral("JPEG")));
        const quint32 length = be16(len);
        if (length < 2)
            return fail(error, QStringLiteral("corrupt JPEG header (bad segment length)"));
        const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8
            && marker != 0xCC;
        if (sof) {
            if (length < 8)
                return fail(error, QStringLiteral("corrupt JPEG header (short frame header)"));
            uchar f[6]; // precision, height, width, components
            need = pos + 8;
            if (!src.read(pos + 2, 6, f))
                return fail(error, truncatedOrUnavailable(src, need, QStringLiteral("JPEG")));
            if (marker == 0xC3 || marker == 0xC7 || marker == 0xCB || marker == 0xCF)
                return fail(error, QStringLiteral("unsupported format (lossless JPEG)"));
            if (marker == 0xC5 || marker == 0xC6 || marker == 0xCD || marker == 0xCE)
                return fail(error, QStringLiteral("unsupported format (hierarchical JPEG)"));
            if (f[0] != 8)
                return fail(error, QStringLiteral("unsupported format (%1-bit JPEG)").arg(f[0]));
            const int components = f[5];
            if (components != 1 && components != 3 && components != 4)
                return fail(error,
                    QStringLiteral("corrupt JPEG header (%1 colour components)").arg(components));
            out->header.height = int(be16(f + 1));
            out->header.width = int(be16(f + 3));
            out->header.channels = components;
            out->decodedChannels = 3; // IMREAD_COLOR (CMYK is converted row by row)
            if (out->header.width == 0 || out->header.height == 0)
                return fail(error, QStringLiteral("corrupt JPEG header (zero image size)"));
            return true;
        }
        pos += length;
    }
    return fail(error, QStringLiteral("corrupt JPEG header (no frame header)"));
}

// --- PNG: IHDR is the first chunk ----------------------------------------------------------------

// Whether a chunk of TYPE comes between IHDR and the first IDAT (looks at most 64 chunks).
bool hasPngChunkBeforeData(ByteSource &src, const char *type)
{
    qint64 pos = 33; // past the signature and IHDR
    for (int i = 0; i < 64; ++i) {
        uchar c[8];
        if (!src.read(pos, 8, c) || std::memcmp(c + 4, "IDAT", 4) == 0)
            return false;
        if (std::memcmp(c + 4, type, 4) == 0)
            return true;
        pos += 12 + qint64(be32(c));
    }
    return false;
}

bool parsePng(ByteSource &src, Parsed *out, QString *error)
{
    uchar c[25]; // length, "IHDR", 13 data bytes
    if (!src.read(8, 25, c))
        return fail(error, truncatedOrUnavailable(src, 33, QStringLiteral("PNG")));
    if (be32(c) != 13 || std::memcmp(c + 4, "IHDR", 4) != 0)
        return fail(error, QStringLiteral("corrupt PNG header (IHDR is not the first chunk)"));
    const quint32 width = be32(c + 8), height = be32(c + 12);
    const int depth = c[16], colour = c[17];
    if (width == 0 || height == 0 || width > 0x7fffffffu || height > 0x7fffffffu)
        return fail(error, QStringLiteral("corrupt PNG header (invalid image size)"));
    auto depthIs = [depth](std::initializer_list<int> allowed) {
        return std::find(allowed.begin(), allowed.end(), depth) != allowed.end();
    };
    int channels = 0;
    bool depthOk = false;
    switch (colour) {
    case 0:
        channels = 1;
        depthOk = depthIs({ 1, 2, 4, 8, 16 });
        break;
    case 2:
        channels = 3;
        depthOk = depthIs({ 8, 16 });
        break;
    case 3:
        channels = 3;
        depthOk = depthIs({ 1, 2, 4, 8 });
        break; // palette, decoded to colour
    case 4:
        channels = 2;
        depthOk = depthIs({ 8, 16 });
        break;
    case 6:
        channels = 4;
        depthOk = depthIs({ 8, 16 });
        break;
    default:
        break;
    }
    if (channels == 0 || !depthOk)
        return fail(error,
            QStringLiteral("corrupt PNG header (colour type %1 with bit depth %2)")
                .arg(colour)
                .arg(depth));
    out->header.width = int(width);
    out->header.height = int(height);
    out->header.channels = channels;
    out->header.bitDepth = depth;
    out->bytesPerSample = depth == 16 ? 2 : 1;
    // OpenCV decodes gray+alpha, and colour or palette images with a tRNS chunk, to 4 channels.
    const bool alpha = colour == 4 || colour == 6
        || ((colour == 2 || colour == 3) && hasPngChunkBeforeData(src, "tRNS"));
    out->decodedChannels = alpha ? 4 : channels;
    return true;
}

// --- BMP -----------------------------------------------------------------------------------------

bool parseBmp(ByteSource &src, Parsed *out, QString *error)
{
    const QString fmt = QStringLiteral("BMP");
    uchar h[34];
    if (!src.read(0, 26, h))
        return fail(error, truncatedOrUnavailable(src, 26, fmt));
    const quint32 dataOffset = le32(h + 10);
    const quint32 dibSize = le32(h + 14);
    qint64 width = 0, height = 0;
    int bpp = 0;
    quint32 compression = 0;
    quint32 paletteSize = 0;
    int paletteEntryBytes = 4;
    if (dibSize == 12) { // OS/2 core header
        width = le16(h + 18);
        height = le16(h + 20);
        bpp = int(le16(h + 24));
        paletteEntryBytes = 3;
    } else if (dibSize >= 16 && dibSize <= 1024) {
        if (!src.read(0, 34, h))
            return fail(error, truncatedOrUnavailable(src, 34, fmt));
        width = qint32(le32(h + 18));
        height = qint32(le32(h + 22));
        bpp = int(le16(h + 28));
        if (dibSize >= 20)
            compression = le32(h + 30);
        uchar used[4];
        if (dibSize >= 36 && src.read(46, 4, used))
            paletteSize = le32(used);
    } else {
        return fail(
            error, QStringLiteral("corrupt BMP header (info header of %1 bytes)").arg(dibSize));
    }
    height = std::abs(height); // negative: rows stored top-down
    if (width <= 0 || height <= 0 || width > 0x7fffffff || height > 0x7fffffff)
        return fail(error, QStringLiteral("corrupt BMP header (invalid image size)"));
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
        return fail(error, QStringLiteral("corrupt BMP header (%1 bits per pixel)").arg(bpp));
    if (compression == 4 || compression == 5)
        return fail(error,
            QStringLiteral("unsupported format (BMP with embedded %1)")
                .arg(compression == 4 ? QStringLiteral("JPEG") : QStringLiteral("PNG")));
    if (compression > 3)
        return fail(
            error, QStringLiteral("unsupported format (BMP compression %1)").arg(compression));

    int channels = bpp == 32 ? 4 : 3;
    if (bpp <= 8) {
        // A palette whose entries are all gray decodes to one channel.
        if (paletteSize == 0 || paletteSize > (1u << bpp))
            paletteSize = 1u << bpp;
        const qint64 paletteOffset = 14 + qint64(dibSize);
        bool gray = true;
        for (quint32 i = 0; i < paletteSize && gray; ++i) {
            uchar e[3];
            if (!src.read(paletteOffset + qint64(i) * paletteEntryBytes, 3, e)) {
                gray = false;
                break;
            }
            gray = e[0] == e[1] && e[1] == e[2];
        }
        channels = gray ? 1 : 3;
    }
    out->header.width = int(width);
    out->header.height = int(height);
    out->header.channels = channels;
    if (compression == 0 || compression == 3) {
        const double stride = std::floor((double(width) * bpp + 31) / 32) * 4;
        out->minFileSize = double(dataOffset) + stride * double(height);
    }
    return true;
}

// --- WebP: RIFF container with a VP8, VP8L or VP8X first chunk -----------------------------------

bool parseWebp(ByteSource &src, Parsed *out, QString *error)
{
    const QString fmt = QStringLiteral("WebP");
    uchar h[30];
    if (!src.read(0, 30, h))
        return fail(error, truncatedOrUnavailable(src, 30, fmt));
    int width = 0, height = 0, channels = 3;
    if (std::memcmp(h + 12, "VP8 ", 4) == 0) {
        if (h[23] != 0x9D || h[24] != 0x01 || h[25] != 0x2A)
            return fail(error, QStringLiteral("corrupt WebP header (bad VP8 start code)"));
        width = int(le16(h + 26) & 0x3fff);
        height = int(le16(h + 28) & 0x3fff);
    } else if (std::memcmp(h + 12, "VP8L", 4) == 0) {
        if (h[20] != 0x2F)
            return fail(error, QStringLiteral("corrupt WebP header (bad VP8L signature)"));
        const quint32 bits = le32(h + 21);
        width = int(bits & 0x3fff) + 1;
        height = int((bits >> 14) & 0x3fff) + 1;
        channels = (bits >> 28) & 1 ? 4 : 3;
    } else if (std::memcmp(h + 12, "VP8X", 4) == 0) {
        const uchar flags = h[20];
        if (flags & 0x02)
            return fail(error, QStringLiteral("unsupported format (animated WebP)"));
        channels = flags & 0x10 ? 4 : 3;
        width = int(le24(h + 24)) + 1;
        height = int(le24(h + 27)) + 1;
    } else {
        return fail(error, QStringLiteral("corrupt WebP header (unknown first chunk)"));
    }
    if (width == 0 || height == 0)
        return fail(error, QStringLiteral("corrupt WebP header (zero image size)"));
    out->header.width = width;
    out->header.height = height;
    out->header.channels = channels;
    out->minFileSize = double(le32(h + 4)) + 8;
    return true;
}

// --- TIFF (and BigTIFF): the first image file directory ------------------------------------------

bool parseTiff(ByteSource &src, Parsed *out, QString *error)
{
    const QString fmt = QStringLiteral("TIFF");
    uchar h[16];
    if (!src.read(0, 8, h))
        return fail(error, truncatedOrUnavailable(src, 8, fmt));
    const bool little = h[0] == 'I';
    auto u16 = [little](const uchar *p) { return little ? le16(p) : be16(p); };
    auto u32 = [little](const uchar *p) { return little ? le32(p) : be32(p); };
    auto u64 = [&](const uchar *p) {
        return little ? (quint64(u32(p + 4)) << 32 | u32(p)) : (quint64(u32(p)) << 32 | u32(p + 4));
    };
    const bool big = u16(h + 2) == 43;
    quint64 ifd = 0;
    if (big) {
        if (!src.read(0, 16, h))
            return fail(error, truncatedOrUnavailable(src, 16, fmt));
        ifd = u64(h + 8);
    } else {
        ifd = u32(h + 4);
    }
    out->header.channels = 1; // SamplesPerPixel default
    if (ifd >= quint64(src.size()))
        return fail(
            error, QStringLiteral("truncated TIFF (image directory past the end of the file)"));

    const int countBytes = big ? 8 : 2;
    const int entryBytes = big ? 20 : 12;
    uchar c[8];
    if (!src.read(qint64(ifd), countBytes, c))
        return true; // directory not available (bytes only): format known, size unknown
    const quint64 count = big ? u64(c) : u16(c);
    if (count == 0 || count > kMaxTiffEntries)
        return fail(error, QStringLiteral("corrupt TIFF header (%1 directory entries)").arg(count));
    quint64 width = 0, height = 0;
    int photometric = -1, sampleFormat = 1;
    for (quint64 i = 0; i < count; ++i) {
        uchar e[20];
        if (!src.read(qint64(ifd + countBytes + i * entryBytes), entryBytes, e))
            return fail(error, QStringLiteral("truncated TIFF (image directory incomplete)"));
        const quint32 tag = u16(e), type = u16(e + 2);
        const uchar *value = e + (big ? 12 : 8);
        quint64 v = 0;
        if (type == 3)
            v = u16(value);
        else if (type == 4)
            v = u32(value);
        else if (type == 16 && big)
            v = u64(value);
        else
            continue;
        switch (tag) {
        case 256:
            width = v;
            break;
        case 257:
            height = v;
            break;
        case 262:
            photometric = int(v);
            break;
        case 277:
            out->header.channels = int(std::min<quint64>(v, 64));
            break;
        case 258: // bits per sample: one per channel, alike in practice; the first one counts
            out->header.bitDepth = int(std::min<quint64>(v, 64));
            break;
        case 339:
            sampleFormat = int(v);
            break;
        default:
            break;
        }
    }
    if (width == 0 || height == 0 || width > 0x7fffffff || height > 0x7fffffff)
        return fail(error, QStringLiteral("corrupt TIFF header (invalid image size)"));
    if (photometric == 3)
        out->header.channels = 3; // palette, decoded to colour
    out->header.width = int(width);
    out->header.height = int(height);
    const int channels = std::max(1, out->header.channels);
    out->decodedChannels = channels == 2 ? 4 : channels;
    const int bits = out->header.bitDepth;
    out->bytesPerSample = bits > 32 ? 8 : bits > 16 ? 4 : bits > 8 ? 2 : 1;
    if (sampleFormat == 3 && bits == 16)
        out->bytesPerSample = 4; // half floats decode to 32-bit floats
    return true;
}

// --- PNM (P1-P6) and PAM (P7) --------------------------------------------------------------------

bool isSpace(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Reads whitespace-separated header tokens, skipping '#' comments.
class PnmTokens {
public:
    explicit PnmTokens(ByteSource &src)
        : m_src(src)
    {
    }
    qint64 pos() const { return m_pos; }
    bool atEnd() const { return m_end; }

    QByteArray next()
    {
        int c = skip();
        QByteArray token;
        while (c >= 0 && !isSpace(c) && c != '#' && token.size() < 64) {
            token.append(char(c));
            c = get();
        }
        if (c >= 0)
            --m_pos; // leave the delimiter to the caller
        return token;
    }

    // Skips the rest of the current line (PAM header lines).
    void skipLine()
    {
        int c = get();
        while (c >= 0 && c != '\n')
            c = get();
    }

private:
    int get()
    {
        if (m_pos >= kMaxPnmHeaderBytes) {
            m_end = true;
            return -1;
        }
        const int c = m_src.byteAt(m_pos);
        if (c < 0) {
            m_end = true;
            return -1;
        }
        ++m_pos;
        return c;
    }
    int skip()
    {
        int c = get();
        while (c >= 0 && (isSpace(c) || c == '#')) {
            if (c == '#') {
                while (c >= 0 && c != '\n' && c != '\r')
                    c = get();
            }
            c = get();
        }
        return c;
    }

    ByteSource &m_src;
    qint64 m_pos = 2; // past "Pn"
    bool m_end = false;
};

bool parsePnm(ByteSource &src, Parsed *out, QString *error)
{
    const char kind = src.head().at(1);
    PnmTokens tokens(src);
    auto number = [&](const QByteArray &token, qint64 *value) {
        bool ok = false;
        *value = token.toLongLong(&ok);
        return ok;
    };
    auto incomplete = [&]() {
        return fail(error,
            tokens.pos() >= src.size() ? QStringLiteral("truncated PNM (header incomplete)")
                                       : QStringLiteral("corrupt PNM header"));
    };

    qint64 width = 0, height = 0, maxval = 1, depth = 1;
    if (kind == '7') {
        for (;;) {
            const QByteArray key = tokens.next();
            if (key.isEmpty())
                return incomplete();
            if (key == "ENDHDR")
                break;
            if (key == "TUPLTYPE") {
                tokens.skipLine();
                continue;
            }
            qint64 value = 0;
            if (!number(tokens.next(), &value))
                return incomplete();
            if (key == "WIDTH")
                width = value;
            else if (key == "HEIGHT")
                height = value;
            else if (key == "DEPTH")
                depth = value;
            else if (key == "MAXVAL")
                maxval = value;
        }
    } else {
        if (!number(tokens.next(), &width) || !number(tokens.next(), &height))
            return incomplete();
        if (kind != '1' && kind != '4' && !number(tokens.next(), &maxval))
            return incomplete();
        depth = (kind == '3' || kind == '6') ? 3 : 1;
    }
    if (width <= 0 || height <= 0 || width > 0x7fffffff || height > 0x7fffffff)
        return fail(error, QStringLiteral("corrupt PNM header (invalid image size)"));
    if (maxval < 1 || maxval > 65535 || depth < 1 || depth > 4)
        return fail(error,
            QStringLiteral("corrupt PNM header (maximum value %1, depth %2)")
                .arg(maxval)
                .arg(depth));
    out->header.width = int(width);
    out->header.height = int(height);
    out->header.channels = int(depth);
    out->header.bitDepth = maxval > 255 ? 16 : kind == '1' || kind == '4' ? 1 : 8;
    out->bytesPerSample = maxval > 255 ? 2 : 1;
    out->decodedChannels = depth == 2 ? 4 : int(depth);

    const double dataStart = double(tokens.pos() + 1); // one whitespace byte after the header
    const double sampleBytes = maxval > 255 ? 2 : 1;
    if (kind == '4')
        out->minFileSize = dataStart
            + double(height)
                * std::ceil(double(width) / 8.0); // 1 bit a pixel, rows padded to bytes
    else if (kind == '5' || kind == '6' || kind == '7')
        out->minFileSize = dataStart + double(width) * double(height) * double(depth) * sampleBytes;
    return true;
}

// --- signatures ----------------------------------------------------------------------------------

bool startsWith(const QByteArray &head, const char *bytes, int n, int offset = 0)
{
    return head.size() >= offset + n
        && std::memcmp(head.constData() + offset, bytes, size_t(n)) == 0;
}

ImageFormat detectFormat(const QByteArray &head)
{
    if (startsWith(head, "\xFF\xD8\xFF", 3))
        return ImageFormat::Jpeg;
    if (startsWith(head, "\x89PNG\r\n\x1A\n", 8))
        return ImageFormat::Png;
    if (startsWith(head, "BM", 2) && head.size() >= 14)
        return ImageFormat::Bmp;
    if (startsWith(head, "RIFF", 4) && startsWith(head, "WEBP", 4, 8))
        return ImageFormat::Webp;
    if (startsWith(head, "II*\0", 4) || startsWith(head, "MM\0*", 4) || startsWith(head, "II+\0", 4)
        || startsWith(head, "MM\0+", 4))
        return ImageFormat::Tiff;
    if (head.size() >= 3 && head.at(0) == 'P' && head.at(1) >= '1' && head.at(1) <= '7'
        && isSpace(uchar(head.at(2))))
        return ImageFormat::Pnm;
    return ImageFormat::Unknown;
}

// Image formats recognised but not decoded by LeanTune's OpenCV build (or not yet supported here).
QString unsupportedFormatName(const QByteArray &head)
{
    if (startsWith(head, "GIF87a", 6) || startsWith(head, "GIF89a", 6))
        return QStringLiteral("GIF");
    if (startsWith(head, "8BPS", 4))
        return QStringLiteral("Photoshop");
    if (startsWith(head, "\xFF\x4F\xFF\x51", 4) || startsWith(head, "\0\0\0\x0CjP  \r\n\x87\n", 12))
        return QStringLiteral("JPEG 2000");
    if (startsWith(head, "\xFF\x0A", 2) || startsWith(head, "\0\0\0\x0CJXL \r\n\x87\n", 12))
        return QStringLiteral("JPEG XL");
    if (startsWith(head, "ftyp", 4, 4)) {
        const QByteArray brand = head.mid(8, 4);
        if (brand == "avif" || brand == "avis")
            return QStringLiteral("AVIF");
        if (brand == "heic" || brand == "heix" || brand == "mif1" || brand == "msf1"
            || brand == "hevc")
            return QStringLiteral("HEIF");
    }
    if (startsWith(head, "\x76\x2F\x31\x01", 4))
        return QStringLiteral("OpenEXR");
    if (startsWith(head, "#?RADIANCE", 10) || startsWith(head, "#?RGBE", 6))
        return QStringLiteral("Radiance HDR");
    if (startsWith(head, "\0\0\1\0", 4) && head.size() >= 6 && head.at(4) != 0)
        return QStringLiteral("ICO");
    if (head.left(1024).contains("<svg"))
        return QStringLiteral("SVG");
    return {};
}

QString notAnImageReason(const QByteArray &head)
{
    const QByteArray sample = head.left(512);
    const QByteArray start = sample.trimmed().left(14).toLower();
    if (start.startsWith("<!doctype html") || start.startsWith("<html"))
        return QStringLiteral("not an image (HTML page)");
    int control = 0;
    for (char ch : sample) {
        const uchar c = uchar(ch);
        if (c == 0)
            return QStringLiteral("not an image (unknown format)");
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f')
            ++control;
    }
    if (qsizetype(control) * 20 <= sample.size())
        return QStringLiteral("not an image (text file)");
    return QStringLiteral("not an image (unknown format)");
}

// The last bytes of the file without trailing zero padding, or a null array when unknown.
QByteArray fileEnd(const QByteArray &head, const QByteArray &tail, qint64 fileSize)
{
    QByteArray end;
    if (head.size() >= fileSize)
        end = head.right(qsizetype(kTailBytes) * 4);
    else if (!tail.isEmpty())
        end = tail;
    else
        return {};
    while (!end.isEmpty() && end.endsWith('\0'))
        end.chop(1);
    if (end.isNull())
        end = QByteArray(""); // all zeros: known, and empty
    return end;
}

std::optional<ImageHeader> probe(
    ByteSource &src, const QByteArray &tail, QString *error, const ProbeLimits &limits)
{
    const QByteArray &head = src.head();
    if (src.size() <= 0 || head.isEmpty()) {
        *error = QStringLiteral("empty file");
        return std::nullopt;
    }
    Parsed parsed;
    parsed.header.format = detectFormat(head);
    bool ok = false;
    switch (parsed.header.format) {
    case ImageFormat::Jpeg:
        ok = parseJpeg(src, &parsed, error);
        break;
    case ImageFormat::Png:
        ok = parsePng(src, &parsed, error);
        break;
    case ImageFormat::Bmp:
        ok = parseBmp(src, &parsed, error);
        break;
    case ImageFormat::Webp:
        ok = parseWebp(src, &parsed, error);
        break;
    case ImageFormat::Tiff:
        ok = parseTiff(src, &parsed, error);
        break;
    case ImageFormat::Pnm:
        ok = parsePnm(src, &parsed, error);
        break;
    case ImageFormat::Unknown: {
        const QString unsupported = unsupportedFormatName(head);
        *error = unsupported.isEmpty() ? notAnImageReason(head)
                                       : QStringLiteral("unsupported format (%1)").arg(unsupported);
        return std::nullopt;
    }
    }
    if (!ok)
        return std::nullopt;

    ImageHeader &h = parsed.header;
    h.decodedBytes = decodedBytesOf(h.width, h.height,
        parsed.decodedChannels > 0 ? parsed.decodedChannels : std::max(1, h.channels),
        parsed.bytesPerSample);
    if (h.decodedBytes > limits.maxDecodedBytes) {
        *error = QStringLiteral("too large: %1x%2 pixels, %3-bit, decodes to %4 (limit %5)")
                     .arg(h.width)
                     .arg(h.height)
                     .arg(h.bitDepth)
                     .arg(decodedSizeText(h.decodedBytes), decodedSizeText(limits.maxDecodedBytes));
        return std::nullopt;
    }

    const QString name = imageFormatName(h.format);
    if (parsed.minFileSize > 0 && double(src.size()) < parsed.minFileSize) {
        *error = QStringLiteral("truncated %1 (file shorter than its pixel data)").arg(name);
        return std::nullopt;
    }
    const QByteArray end = fileEnd(head, tail, src.size());
    if (!end.isNull()) {
        if (h.format == ImageFormat::Jpeg && !end.endsWith("\xFF\xD9")) {
            *error = QStringLiteral("truncated JPEG (no end-of-image marker)");
            return std::nullopt;
        }
        if (h.format == ImageFormat::Png && !end.endsWith("IEND\xAE\x42\x60\x82")) {
            *error = QStringLiteral("truncated PNG (no IEND chunk)");
            return std::nullopt;
        }
    }
    return h;
}

QString lowerFirst(QString text)
{
    if (!text.isEmpty())
        text[0] = text.at(0).toLower();
    return text;
}

} // namespace

qint64 decodedBytesOf(qint64 width, qint64 height, int decodedChannels, int bytesPerSample)
{
    const qint64 pixels = width * height;
    const qint64 native = pixels * decodedChannels * bytesPerSample;
    const qint64 eightBit = bytesPerSample > 1 ? pixels * decodedChannels : 0;
    // To the run's 1 or 3 channels: gray needs none, colour at most a gray copy, others BGR.
    const qint64 converted = decodedChannels == 1 ? 0 : decodedChannels == 3 ? pixels : pixels * 3;
    return std::max(native + eightBit, (eightBit > 0 ? eightBit : native) + converted);
}

QString decodedSizeText(qint64 bytes)
{
    return formatBytes(std::max<qint64>(bytes, 0));
}

std::optional<ImageHeader> probeImageBytes(const QByteArray &head, const QByteArray &tail,
    qint64 fileSize, QString *error, const ProbeLimits &limits)
{
    QString ignored;
    if (!error)
        error = &ignored;
    try {
        ByteSource src(head, std::max<qint64>(fileSize, head.size()), nullptr);
        return probe(src, tail, error, limits);
    } catch (const std::exception &e) {
        *error = QStringLiteral("cannot read header: %1").arg(QString::fromLocal8Bit(e.what()));
    }
    return std::nullopt;
}

std::optional<ImageHeader> probeImageFile(
    const QString &path, QString *error, const ProbeLimits &limits)
{
    QString ignored;
    if (!error)
        error = &ignored;
    try {
        QFile file(path);
        if (!file.open(QIODevice::ReadOnly | QIODevice::Unbuffered)) {
            *error = QStringLiteral("unreadable (%1)").arg(lowerFirst(file.errorString()));
            return std::nullopt;
        }
        const qint64 size = file.size();
        if (size <= 0) {
            *error = QStringLiteral("empty file");
            return std::nullopt;
        }
        const qint64 headSize = std::min<qint64>(size, kHeadBytes);
        const QByteArray head = file.read(headSize);
        if (head.size() != headSize) {
            *error = QStringLiteral("unreadable (%1)").arg(lowerFirst(file.errorString()));
            return std::nullopt;
        }
        QByteArray tail;
        if (size > headSize && file.seek(size - kTailBytes))
            tail = file.read(kTailBytes);
        ByteSource src(head, size, &file);
        return probe(src, tail, error, limits);
    } catch (const std::exception &e) {
        *error = QStringLiteral("cannot read header: %1").arg(QString::fromLocal8Bit(e.what()));
    }
    return std::nullopt;
}

} // namespace leantune
