#pragma once

#include <QCache>
#include <QImage>
#include <QMutex>
#include <QObject>
#include <QSize>
#include <QString>
#include <QThreadPool>
#include <QVector>

#include <atomic>

namespace leantune {

// Decodes thumbnails off the GUI thread. Requests go on a stack (the newest first: what the view
// asked for last is what is on screen now); requests that scroll out of view are dropped with
// retainOnly() before they are decoded. Results come back on the GUI thread through thumbnailReady
// and stay in a cache bounded in bytes. Images are decoded at reduced size where the format allows
// (QImageReader::setScaledSize: JPEG decodes at 1/2, 1/4 or 1/8 scale).
// Thread affinity: the GUI thread; the decode jobs run on a private thread pool and touch only the
// request stack (guarded by m_mutex) and atomics. The destructor waits for running jobs.
class ThumbnailLoader : public QObject {
    Q_OBJECT
public:
    explicit ThumbnailLoader(QSize size = { 72, 72 }, QObject *parent = nullptr);
    ~ThumbnailLoader() override;

    QSize thumbnailSize() const { return m_size; }
    void setCacheLimitBytes(qint64 bytes);
    // The cached thumbnail of key, or a null image (and, with a path, a decode request).
    QImage thumbnail(qint64 key, const QString &path);
    bool isCached(qint64 key) const { return m_cache.contains(key); }
    // Drops pending requests whose key is not in [first, last]. Keys are the model's image indexes.
    void retainOnly(qint64 first, qint64 last);
    void clear(); // drops requests and cache (a new data set)

    int decodeCount() const { return m_decoded.load(); } // files decoded so far (tests, bench)
    int failedCount() const { return m_failed.load(); }
    int pendingCount() const;

    static QImage decode(const QString &path, QSize size, QString *error = nullptr);

Q_SIGNALS:
    void thumbnailReady(qint64 key);

private:
    struct Request {
        qint64 key;
        QString path;
        quint64 generation;
    };
    void drain(); // runs on the pool: decodes requests until the stack is empty

    QSize m_size;
    QThreadPool m_pool;
    mutable QMutex m_mutex;
    QVector<Request> m_stack; // guarded by m_mutex
    QVector<qint64> m_inFlight; // guarded by m_mutex
    int m_activeJobs = 0; // guarded by m_mutex
    std::atomic<quint64> m_generation { 0 };
    std::atomic_bool m_stopping { false };
    std::atomic_int m_decoded { 0 };
    std::atomic_int m_failed { 0 };
    QCache<qint64, QImage> m_cache; // GUI thread only; cost in KiB
};

} // namespace leantune
