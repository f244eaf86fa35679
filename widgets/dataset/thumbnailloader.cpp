#include "widgets/dataset/thumbnailloader.h"

#include <QImageReader>
#include <QMutexLocker>
#include <QPainter>

#include <algorithm>

namespace leantune {

ThumbnailLoader::ThumbnailLoader(QSize size, QObject *parent)
    : QObject(parent)
    , m_size(size)
{
    m_pool.setMaxThreadCount(std::max(1, std::min(4, QThread::idealThreadCount())));
    m_pool.setObjectName(QStringLiteral("thumbnails"));
    setCacheLimitBytes(96ll * 1024 * 1024);
}

ThumbnailLoader::~ThumbnailLoader()
{
    m_stopping.store(true);
    {
        QMutexLocker lock(&m_mutex);
        m_stack.clear();
    }
    m_pool.waitForDone();
}

void ThumbnailLoader::setCacheLimitBytes(qint64 bytes)
{
    m_cache.setMaxCost(int(std::max<qint64>(1, bytes / 1024)));
}

QImage ThumbnailLoader::decode(const QString &path, QSize size, QString *error)
{
    QImageReader reader(path);
    reader.setAutoTransform(true);
    const QSize full = reader.size();
    if (full.isValid() && (full.width() > size.width() || full.height() > size.height()))
        reader.setScaledSize(full.scaled(size, Qt::KeepAspectRatio));
    QImage image = reader.read();
    if (image.isNull()) {
        if (error)
            *error = reader.errorString();
        return {};
    }
    if (image.width() > size.width() || image.height() > size.height()) {
        image = image.scaled(size, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    } else {
        // Small images (28 px digits) grow by a whole factor, pixels kept crisp, to fill the cell.
        const int factor = std::min(
            size.width() / std::max(1, image.width()), size.height() / std::max(1, image.height()));
        if (factor >= 2)
            image
                = image.scaled(image.size() * factor, Qt::KeepAspectRatio, Qt::FastTransformation);
    }
    return image;
}

QImage ThumbnailLoader::thumbnail(qint64 key, const QString &path)
{
    if (const QImage *cached = m_cache.object(key))
        return *cached;
    if (path.isEmpty())
        return {};
    QMutexLocker lock(&m_mutex);
    if (m_inFlight.contains(key))
        return {};
    auto it = std::find_if(
        m_stack.begin(), m_stack.end(), [key](const Request &r) { return r.key == key; });
    if (it != m_stack.end())
        m_stack.erase(it); // asked again: move it to the top
    m_stack.append({ key, path, m_generation.load() });
    if (m_activeJobs < m_pool.maxThreadCount()) {
        ++m_activeJobs;
        m_pool.start([this] { drain(); });
    }
    return {};
}

void ThumbnailLoader::retainOnly(qint64 first, qint64 last)
{
    QMutexLocker lock(&m_mutex);
    m_stack.erase(std::remove_if(m_stack.begin(), m_stack.end(),
                      [=](const Request &r) { return r.key < first || r.key > last; }),
        m_stack.end());
}

void ThumbnailLoader::clear()
{
    ++m_generation;
    {
        QMutexLocker lock(&m_mutex);
        m_stack.clear();
    }
    m_cache.clear();
}

int ThumbnailLoader::pendingCount() const
{
    QMutexLocker lock(&m_mutex);
    return m_stack.size() + m_inFlight.size();
}

void ThumbnailLoader::drain()
{
    for (;;) {
        Request request;
        {
            QMutexLocker lock(&m_mutex);
            if (m_stack.isEmpty() || m_stopping.load()) {
                --m_activeJobs;
                return;
            }
            request = m_stack.takeLast();
            m_inFlight.append(request.key);
        }
        QImage image = decode(request.path, m_size);
        ++m_decoded;
        if (image.isNull()) {
            ++m_failed;
            // A placeholder that says "unreadable", so the cell is not asked for again and again.
            image = QImage(m_size, QImage::Format_ARGB32_Premultiplied);
            image.fill(QColor(250, 225, 225));
            QPainter painter(&image);
            painter.setPen(QPen(QColor(200, 40, 40), 2));
            painter.drawLine(8, 8, m_size.width() - 8, m_size.height() - 8);
            painter.drawLine(m_size.width() - 8, 8, 8, m_size.height() - 8);
        }
        const quint64 generation = request.generation;
        const qint64 key = request.key;
        QMetaObject::invokeMethod(
            this,
            [this, key, generation, image] {
                {
                    QMutexLocker lock(&m_mutex);
                    m_inFlight.removeOne(key);
                }
                if (generation != m_generation.load())
                    return; // the data set changed meanwhile
                const int cost = std::max(1, int(image.sizeInBytes() / 1024));
                m_cache.insert(key, new QImage(image), cost);
                Q_EMIT thumbnailReady(key);
            },
            Qt::QueuedConnection);
    }
}

} // namespace leantune
